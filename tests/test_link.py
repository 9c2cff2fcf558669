"""Link ends: the sender's recovered model equals the receiver's, bit for bit."""

import pytest
import torch

from resfed import state as st
from resfed.codec import CodecConfig, UniformCodec, layout_of
from resfed.link import LinkEnd, LinkSettings
from resfed.models import build_model


def _pair(settings):
    layout = layout_of({"w": torch.zeros(50, 20), "b": torch.zeros(20), "n": torch.tensor(0)})
    return LinkEnd(settings, layout, 4), LinkEnd(settings, layout, 4)


def _drift(round_index):
    generator = torch.Generator().manual_seed(round_index)
    return {
        "w": torch.randn(50, 20, generator=generator) * 0.01 + 0.1 * round_index,
        "b": torch.randn(20, generator=generator),
        "n": torch.tensor(round_index * 10),
    }


@pytest.mark.parametrize(
    "settings",
    [
        LinkSettings(),
        LinkSettings(codec=CodecConfig(sparsity=0.99, bits=1), predictor="trajectory", order=1),
        LinkSettings(codec=CodecConfig(sparsity=0.9, bits=32), predictor="trajectory", order=2),
        LinkSettings(codec=CodecConfig(sparsity=0.9, bits=1), predictor="trajectory", order=3, warmup="lower_order"),
        LinkSettings(codec=CodecConfig(sparsity=0.95, bits=1), predictor="trajectory", order=0, error_feedback=True),
        LinkSettings(codec=CodecConfig(sparsity=0.99, bits=1), predictor="trajectory", order=1, trajectory="anchor"),
    ],
)
def test_both_ends_recover_identical_models(settings):
    sender, receiver = _pair(settings)
    anchor = st.zeros_like(_drift(0))
    for round_index in range(1, 6):
        data, sent = sender.send(_drift(round_index), anchor, round_index)
        received = receiver.receive(data, anchor, round_index)
        assert st.digest(sent) == st.digest(received) == sender.last_digest == receiver.last_digest
        assert received["n"].item() == round_index * 10  # integer buffers travel exactly
        anchor = received


def test_lossless_weights_are_exact():
    sender, receiver = _pair(LinkSettings())
    model = _drift(3)
    data, _ = sender.send(model, st.zeros_like(model), 1)
    received = receiver.receive(data, st.zeros_like(model), 1)
    assert all(torch.equal(received[k], model[k]) for k in model)


def test_warmup_sends_the_full_model_losslessly():
    settings = LinkSettings(codec=CodecConfig(sparsity=0.99, bits=1), predictor="trajectory", order=2)
    sender, receiver = _pair(settings)
    model = _drift(1)
    data, sent = sender.send(model, st.zeros_like(model), 1)
    assert all(torch.equal(sent[k], model[k]) for k in model)
    assert len(data) > 4 * 1000  # a float32 payload, not a sparse one
    data, _ = sender.send(_drift(2), sent, 2)
    assert len(data) < 400


def test_linear_predictor_shrinks_the_residual_of_a_steady_drift():
    """With a constant update, Res-1 predicts the next model and the residual vanishes."""
    settings = LinkSettings(codec=CodecConfig(sparsity=0.0, bits=32), predictor="trajectory", order=1)
    sender, _ = _pair(settings)
    step = {"w": torch.full((50, 20), 0.5), "b": torch.ones(20), "n": torch.tensor(1)}
    anchor = st.zeros_like(step)
    sender.send(st.add(anchor, step), anchor, 1)
    anchor = st.add(anchor, step)
    predicted = sender._prediction(anchor)
    assert torch.allclose(predicted["w"], anchor["w"] + 0.5)


def test_anchor_trajectory_extrapolates_the_anchors_last_step_not_the_links_update():
    """Under trajectory "anchor" the prediction is the anchor plus its step since the last
    transfer, whatever the link itself recovered; before a second anchor it is Res-0."""
    settings = LinkSettings(codec=CodecConfig(sparsity=0.0, bits=32), predictor="trajectory", order=1, trajectory="anchor")
    sender, receiver = _pair(settings)
    first, second = _drift(1), _drift(2)
    assert st.digest(sender._prediction(first)) == st.digest(first)
    data, _ = sender.send(_drift(5), first, 1)
    receiver.receive(data, first, 1)
    sender._observe_anchor(second)
    receiver._observe_anchor(second)
    for end in (sender, receiver):
        torch.testing.assert_close(end._prediction(second)["w"], 2 * second["w"] - first["w"])
    with pytest.raises(ValueError, match="trajectory"):
        LinkSettings(trajectory="own")
    # each end keeps the last anchor besides the T steps
    assert settings.memory_bits == 64 and LinkSettings(predictor="trajectory", order=1).memory_bits == 32


def test_error_feedback_accumulates_what_was_not_sent():
    settings = LinkSettings(codec=CodecConfig(sparsity=0.99, bits=1), predictor="trajectory", order=0, error_feedback=True)
    sender, _ = _pair(settings)
    model = _drift(1)
    anchor = st.zeros_like(model)
    _, recovered = sender.send(model, anchor, 1)
    residual = st.sub(model, anchor)
    torch.testing.assert_close(sender.error["w"], residual["w"] - (recovered["w"] - anchor["w"]))


@pytest.mark.parametrize("stage", ["topk", "uniform"])
@pytest.mark.parametrize("buffers", ["exact", "coded"])
def test_batchnorm_statistics_travel_exactly_unless_coded(buffers, stage):
    # Prepare: the paper's CNN (BatchNorm) state, 99 % + 1 bit or the uniform stage, its float buffers named
    model = build_model("cnn", 1, 10, 28)
    state = {k: v + 0.5 if k.endswith("running_var") else v for k, v in model.state_dict().items()}
    names = frozenset(n for n, b in model.named_buffers() if b.is_floating_point())
    settings = LinkSettings(codec=CodecConfig(sparsity=0.99, bits=1), buffers=buffers)
    codec = UniformCodec(0.1) if stage == "uniform" else None
    sender, receiver = (LinkEnd(settings, layout_of(state), 4, codec, buffers=names) for _ in range(2))
    # Execute
    data, sent = sender.send(state, state, round_index=1)
    got = receiver.receive(data, state, round_index=1)
    # Assert: both ends agree; exact buffers are the sent values, coded ones mostly zero
    assert st.digest(sent) == st.digest(got)
    variances = [name for name in names if name.endswith("running_var")]
    exact = all(torch.equal(got[name], state[name]) for name in variances)
    assert exact == (buffers == "exact")
    if buffers == "coded" and stage == "topk":
        assert sum(int((got[name] == 0).sum()) for name in variances) > 0.9 * sum(state[n].numel() for n in variances)
