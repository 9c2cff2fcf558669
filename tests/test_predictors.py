"""Eq. 8 predictors: known coefficients and exact prediction of polynomial trajectories."""

import pytest
import torch

from resfed.predictors import coefficients, predict


@pytest.mark.parametrize(
    ("order", "formula", "expected"),
    [
        (0, "extrapolation", []),
        (1, "extrapolation", [1]),
        (1, "literal", [1]),
        (2, "extrapolation", [2, -1]),
        (2, "literal", [-2, 1]),
        (3, "extrapolation", [3, -3, 1]),
        (3, "literal", [3, -2, 1]),
    ],
)
def test_coefficients(order, formula, expected):
    assert coefficients(order, formula) == expected


def _trajectory(update_at, rounds):
    """Models w(0..rounds) whose per-round update is update_at(s) (anchor = previous model)."""
    models = [torch.zeros(3)]
    for s in range(1, rounds + 1):
        models.append(models[-1] + update_at(s))
    return models


@pytest.mark.parametrize(
    ("order", "update_at"),
    [
        (1, lambda s: torch.tensor([1.0, -2.0, 0.5])),  # constant update: linear drift
        (2, lambda s: torch.tensor([1.0, -2.0, 0.5]) * s),  # linearly growing update: quadratic drift
        (3, lambda s: torch.tensor([1.0, -2.0, 0.5]) * s * s),  # quadratic update: cubic drift
    ],
)
def test_extrapolation_of_matching_order_is_exact(order, update_at):
    # Prepare
    models = _trajectory(update_at, 6)
    history = [{"w": models[s] - models[s - 1]} for s in range(1, 6)]
    # Execute
    predicted = predict({"w": models[5]}, history, order)
    # Assert
    torch.testing.assert_close(predicted["w"], models[6], rtol=0, atol=1e-5)


def test_literal_formula_misses_a_linear_update_trend():
    models = _trajectory(lambda s: torch.tensor([1.0]) * s, 6)
    history = [{"w": models[s] - models[s - 1]} for s in range(1, 6)]
    literal = predict({"w": models[5]}, history, 2, "literal")["w"]
    assert not torch.allclose(literal, models[6])


def test_missing_history_counts_as_zero_update():
    anchor = {"w": torch.tensor([1.0, 2.0])}
    assert torch.equal(predict(anchor, [], 1)["w"], anchor["w"])
    assert torch.equal(predict(anchor, [{"w": torch.ones(2)}], 2)["w"], anchor["w"] + 2)


def test_integer_entries_stay_exact():
    anchor = {"n": torch.tensor(7)}
    predicted = predict(anchor, [{"n": torch.tensor(3)}], 1)
    assert predicted["n"].dtype == torch.int64 and predicted["n"].item() == 10


@pytest.mark.parametrize(("order", "formula"), [(-1, "extrapolation"), (1, "cubic")])
def test_bad_settings_raise(order, formula):
    with pytest.raises(ValueError, match="order|formula"):
        coefficients(order, formula)
