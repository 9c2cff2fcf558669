"""Shared model predictors of ResFed (Eq. 8).

Both ends of a link predict the next model from the same trajectory of *recovered*
updates, so only the residual between the prediction and the real model travels:

    p = anchor + sum_{tau=1..T} c_tau * d(t - tau)

with d(s) the recovered update of the link's transfer s (recovered model minus the
anchor it started from). Eq. 8 as printed uses c_tau = (-1)^(T - tau) (T - tau + 1).
For T = 0 and T = 1 that is the stationary and linear predictor. For T >= 2 its signs
do not extrapolate anything: T = 2 gives p = anchor - 2 d(t-1) + d(t-2), which is wrong
even for a constant update. The polynomial extrapolation it most likely meant fits a
polynomial of degree T-1 through the last T updates and evaluates it one step ahead:
c_tau = (-1)^(tau + 1) * binom(T, tau) (T = 2: 2 d(t-1) - d(t-2)). Both are offered;
`extrapolation` is the default, `literal` reproduces the formula as printed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import comb

import torch

from resfed import state as st

FORMULAS = ("extrapolation", "literal")
WARMUPS = ("full", "lower_order")


def sends_full_model(warmup: str, order: int, transfers: int) -> bool:
    """Whether transfer `transfers + 1` of a link is a warm-up transfer that sends the whole
    model losslessly: under `full`, until the trajectory holds the `order` updates Eq. 8 needs."""
    return warmup == "full" and transfers + 1 < order


def usable_order(warmup: str, order: int, available: int) -> int:
    """The predictor order a transfer uses: `order`, or under `lower_order` at most the
    `available` updates of the trajectory (a lower-order prediction while it fills)."""
    return order if warmup == "full" else min(order, available)


def coefficients(order: int, formula: str = "extrapolation") -> list[int]:
    """c_1..c_T of Eq. 8: weight of the update tau transfers back."""
    if order < 0:
        raise ValueError(f"predictor order must be >= 0, got {order}")
    if formula == "literal":
        return [(-1) ** (order - tau) * (order - tau + 1) for tau in range(1, order + 1)]
    if formula == "extrapolation":
        return [(-1) ** (tau + 1) * comb(order, tau) for tau in range(1, order + 1)]
    raise ValueError(f"predictor formula must be one of {FORMULAS}, got {formula!r}")


def predict(
    anchor: Mapping[str, torch.Tensor],
    history: Sequence[Mapping[str, torch.Tensor]],
    order: int,
    formula: str = "extrapolation",
) -> st.State:
    """Prediction from the anchor and past recovered updates (`history`, oldest first).

    Updates that do not exist yet count as zero: the first Res-1 transfer predicts like Res-0.
    """
    terms = [
        (c, history[-tau])
        for tau, c in enumerate(coefficients(order, formula), start=1)
        if tau <= len(history)
    ]
    return st.combine(anchor, terms)
