"""Batched (vmap) client training computes what sequential training computes, up to float rounding."""

import pytest
import torch

from resfed import state as st
from resfed.batched import train_batched, use_batched
from resfed.federation import client_generator
from resfed.models import build_model
from resfed.local_training import TrainSettings, local_train
from federation_helpers import make_federation

# unequal clients: 40 = 2 full batches + 8, 16 = 1 full batch, 7 = one short batch
SIZES = (40, 16, 40, 7)
SETTINGS = TrainSettings(lr=0.01, momentum=0.9, batch_size=16, local_epochs=2)


def _clients(model_name, channels, side):
    torch.manual_seed(0)
    model = build_model(model_name, channels, 10, side)
    data = [(torch.randn(n, channels, side, side), torch.randint(0, 10, (n,))) for n in SIZES]
    base = st.clone(model.state_dict())
    # every client starts from its own model (as when the downlink is lossy)
    starts = [{k: v * (1 + 0.05 * i) if v.is_floating_point() else v for k, v in base.items()} for i in range(len(SIZES))]
    return model, data, starts


# 16x16 for the CNN: on 8x8 random inputs a rounding-level difference (oneDNN's conv vs vmap's)
# can flip a max-pool argmax between near-equal values and reroute that step's gradient.
@pytest.mark.parametrize("model_name, channels, side", [("lenet5", 1, 28), ("cnn", 3, 16)])
def test_batched_matches_sequential(model_name, channels, side):
    # Prepare
    model, data, starts = _clients(model_name, channels, side)
    generators = lambda: [client_generator(0, i, 1) for i in range(len(SIZES))]  # noqa: E731
    # Execute
    sequential = [local_train(model, s, x, y, SETTINGS, g) for s, (x, y), g in zip(starts, data, generators())]
    batched = train_batched(model, starts, data, SETTINGS, generators())
    # Assert: same entries, dtypes, values (BN running stats and counters included), losses
    for (expected, expected_loss), (state, loss) in zip(sequential, batched):
        assert list(state) == list(expected)
        for name in expected:
            assert state[name].dtype == expected[name].dtype
            torch.testing.assert_close(state[name], expected[name], rtol=1e-4, atol=1e-5)
        assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert any("running_var" in name for name in starts[0]) == (model_name == "cnn")


def test_federation_round_is_the_same_batched_or_not():
    sequential, batched = (make_federation({"method": "fedavg"}, batched=mode) for mode in ("off", "on"))
    first, second = sequential.run_round(1), batched.run_round(1)
    assert second.train_loss == pytest.approx(first.train_loss, rel=1e-5)
    for name, tensor in sequential.server.global_state.items():
        torch.testing.assert_close(batched.server.global_state[name], tensor, rtol=1e-4, atol=1e-5)


def test_auto_batches_on_cuda_only():
    assert use_batched("auto", torch.device("cuda")) and not use_batched("auto", torch.device("cpu"))
    assert use_batched("on", torch.device("cpu")) and use_batched(True, torch.device("cpu"))
    with pytest.raises(ValueError, match="batched must be one of"):
        use_batched("sometimes", torch.device("cpu"))
