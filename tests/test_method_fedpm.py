"""FedPM: mask sampling, the Beta posterior by hand, learning (messages: test_codec_fedpm.py)."""

import math

import pytest
import torch

from resfed.federation import Federation
from resfed.methods import builder
from resfed.methods.fedpm import PMSettings, _sample_ste, posterior, sample_mask
from resfed.models import build_model
from resfed.local_training import TrainSettings
from federation_helpers import tiny_problem

def federation(fedpm: dict, per_client: int = 100, seed: int = 0, epochs: int = 2):
    clients, test = tiny_problem(per_client=per_client, seed=seed)
    torch.manual_seed(seed)
    return Federation(
        build=builder({"method": "fedpm", "fedpm": fedpm}), model=build_model("lenet5", 1, 10, 28), client_data=clients,
        test_data=test, settings=TrainSettings(batch_size=16, local_epochs=epochs), seed=seed,
    )


def test_mask_samples_follow_theta():
    theta = {"w": torch.full((200_000,), 0.3)}
    mask = sample_mask(theta, torch.Generator().manual_seed(0))["w"]
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert mask.mean().item() == pytest.approx(0.3, abs=4 * math.sqrt(0.3 * 0.7 / 200_000))


def test_straight_through_sample_has_identity_gradient():
    theta = torch.tensor([0.2, 0.5, 0.9], requires_grad=True)
    weights = torch.tensor([1.0, -2.0, 3.0])
    sample = _sample_ste(theta, torch.Generator().manual_seed(0))
    (weights * sample).sum().backward()
    assert set(sample.detach().tolist()) <= {0.0, 1.0}
    assert theta.grad.tolist() == weights.tolist()


@pytest.mark.parametrize(
    "smoothing, estimate, expected",
    [
        (0.0, "mode", [0.0, 0.25, 0.75, 1.0]),  # (alpha - 1) / (alpha + beta - 2) = k / n
        (0.0, "mean", [1 / 6, 2 / 6, 4 / 6, 5 / 6]),  # alpha / (alpha + beta) = (k + 1) / (n + 2)
        (0.01, "mode", [0.01, 0.255, 0.745, 0.99]),  # masks read as 0.01 / 0.99: (0.04 + 0.98 k) / 4
    ],
)
def test_beta_posterior_by_hand(smoothing, estimate, expected):
    ones = {"w": torch.tensor([0, 1, 3, 4])}
    theta = posterior(ones, 4, PMSettings(smoothing=smoothing, estimate=estimate))["w"]
    assert theta.tolist() == pytest.approx(expected, abs=1e-6)


def test_prior_is_reset_every_prior_reset_rounds_and_carried_in_between():
    fed = federation({"prior_reset": 2}, per_client=16, epochs=1)
    trials = []
    for t in (1, 2, 3):
        fed.run_round(t)
        trials.append(fed.server.trials)
    assert trials == [4, 8, 4]  # 4 clients a round; reset before rounds 1 and 3


def test_a_few_rounds_learn_the_tiny_problem_with_real_bytes():
    # Execute
    fed = federation({"eval_mask": "threshold"})
    records = fed.run(6)
    # Assert: above chance (0.1), uplink under 1 bit and downlink under 4 bits per parameter
    assert records[-1].test_accuracy > 0.4
    assert all(8 * b < 61_706 for r in records for b in r.ul_bytes)
    assert all(8 * b < 4 * 61_706 for r in records for b in r.dl_bytes)


def test_models_with_batchnorm_are_refused():
    clients, test = tiny_problem()
    with pytest.raises(ValueError, match="float buffers"):
        Federation(
            build=builder({"method": "fedpm"}), model=build_model("cnn", 1, 10, 28), client_data=clients, test_data=test,
            settings=TrainSettings(), seed=0,
        )
