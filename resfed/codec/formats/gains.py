"""Prediction gains: one factor per tensor on the link's predicted update, fitted by the sender.

A residual is the model minus the link's prediction, ``anchor + u`` with ``u`` the
predicted update (Eq. 8's extrapolation), which both ends hold. Where the trajectory is
coded coarsely the prediction is biased along ``u``: on the paper CNN's uplink residuals
under 99 % + 1 bit, least squares puts ``-0.6`` to ``-0.75`` of ``u`` back into the big
convolutions' residuals (benchmarks/nncodec.md). The sender fits ``g`` per tensor (least
squares of the residual on ``u``), sends it as one signed byte, ``g = code / GAIN_SCALE``,
and codes ``residual - g u``; the receiver adds ``g u`` back. A tensor whose predicted
update is all zero (a link's first transfers) gets no byte.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import MessageError
from ..message import MessageContext

GAIN_SCALE = 64  # g = code / 64: a resolution of 1/64, codes -128..127 cover [-2, 1.98]


def predicted_updates(context: MessageContext, names: Sequence[str], sizes: Sequence[int]) -> list[np.ndarray]:
    """The predicted update of each named tensor as flat float32 (``context.shared`` holds
    them by name)."""
    shared, updates = context.require_shared("uniform prediction_gain"), []
    for name, size in zip(names, sizes):
        if name not in shared or shared[name].numel() != size:
            raise ValueError(f"prediction gains need the predicted update of tensor {name!r} ({size} entries)")
        updates.append(shared[name].detach().reshape(-1).cpu().numpy().astype(np.float32))
    return updates


def fitted(values: np.ndarray, update: np.ndarray) -> int:
    """The gain code of the least-squares factor of ``update`` in ``values``."""
    energy = float(np.dot(update.astype(np.float64), update.astype(np.float64)))
    factor = float(np.dot(values.astype(np.float64), update.astype(np.float64))) / energy
    return int(np.clip(round(factor * GAIN_SCALE), -128, 127))


def gain(code: int) -> np.float32:
    return np.float32(code / GAIN_SCALE)


def subtract(values: Sequence[np.ndarray], updates: Sequence[np.ndarray]) -> tuple[bytes, list[np.ndarray]]:
    """The gains section (a byte per tensor with a nonzero update) and the values minus their
    gain times their update."""
    codes, out = bytearray(), []
    for v, u in zip(values, updates):
        if u.any():
            code = fitted(v, u)
            codes += code.to_bytes(1, "little", signed=True)
            v = v - gain(code) * u
        out.append(v)
    return bytes(codes), out


def read(section: memoryview, updates: Sequence[np.ndarray]) -> list[int]:
    """The gain code of each tensor (0 where its update is all zero) from the gains section."""
    nonzero = [bool(u.any()) for u in updates]
    if len(section) != sum(nonzero):
        raise MessageError(f"gains section has {len(section)} bytes, the predicted updates need {sum(nonzero)}")
    signed = iter(np.frombuffer(section, dtype=np.int8).tolist())
    return [next(signed) if sent else 0 for sent in nonzero]


def added(values: np.ndarray, code: int, update: np.ndarray, name: str) -> np.ndarray:
    """``values`` plus the gain times the update, as the sender subtracted it."""
    if not code:
        return values
    with np.errstate(over="ignore"):
        out = values + gain(code) * update
    if not np.isfinite(out).all():
        raise MessageError("gain times predicted update overflows float32", tensor=name)
    return out
