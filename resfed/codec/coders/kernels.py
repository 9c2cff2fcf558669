"""Kernel contexts: what the entries already coded in a convolution kernel say about the next.

A convolution's residual keeps its nonzeros together inside the ``kh x kw`` kernels, and
the entries of one kernel tend to share a sign (real CNN residuals on Fashion-MNIST:
the position bits of the big convolutions fall 3-8 % and their sign bits 9-22 % under
these contexts, benchmarks/nncodec.md). The ``kernel`` coder keeps the ``context``
coder's models and scales each entry's probability by a factor for its context, coded
entry by entry in (row, kernel position, input channel) order so that the decoder knows
every context when it needs it:

- positions: which of the kernel's entries before this one are kept: the one to its
  left, the one above it, any other (8 contexts);
- signs: the sign of the kernel's last kept entry before this one (none, +, -).

A factor ``f`` turns a model probability ``p`` into ``f p / (1 - p + f p)`` (its odds times
``f``): only +, * and /, so encoder and decoder compute the same float64 values. Factors are
fitted per tensor by the encoder (maximum likelihood) and sent as ``q / FACTOR_SCALE`` with
``q`` in ``[1, FACTOR_LEVELS)``.
"""

from __future__ import annotations

import math

import numpy as np

from ..rangecoding import BERNOULLI, clipped, model

FACTOR_SCALE = 32
FACTOR_LEVELS = 1024
FACTOR_BITS = math.log2(FACTOR_LEVELS)
POSITION_CONTEXTS = 8
SIGN_CONTEXTS = 3
FACTOR_MODEL = model.Uniform(FACTOR_LEVELS)
LOG_FACTOR_RANGE = math.log(FACTOR_LEVELS / FACTOR_SCALE)  # the fit's search range of log f
FIT_ITERATIONS = 16
FIT_TOLERANCE = 1 / (4 * FACTOR_SCALE)  # in log f: well within a code's resolution
PRICING_SAMPLE = 2**16  # a level search fits its factors to about this many entries per tensor


def has_kernels(shape: tuple[int, ...]) -> bool:
    """Whether a tensor has kernels: (out, in, k...) with more than one entry per kernel."""
    return len(shape) >= 3 and shape[0] >= 2 and math.prod(shape[2:]) >= 2


def kernel_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """Entries per kernel and the kernel's row length (its last dimension)."""
    return math.prod(shape[2:]), shape[-1]


def scaled(p: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``p`` with its odds multiplied by ``factor``, clipped to the codable range."""
    return clipped(factor * p / (1.0 - p + factor * p))


def fit_factors(y: np.ndarray, p: np.ndarray, context: np.ndarray, n_contexts: int) -> np.ndarray:
    """The quantised maximum-likelihood factor codes ``q`` per context (1 where a context
    has no entry): Newton on log f, all contexts at once, kept inside a bracket that halves
    when a step would leave it (the likelihood is concave in log f, so its slope's sign says
    on which side the optimum lies)."""
    low, high = np.full(n_contexts, -LOG_FACTOR_RANGE), np.full(n_contexts, LOG_FACTOR_RANGE)
    count = np.bincount(context, minlength=n_contexts) + 1.0
    mean_y = (np.bincount(context, weights=y, minlength=n_contexts) + 0.5) / count
    mean_p = (np.bincount(context, weights=p, minlength=n_contexts) + 0.5) / count
    log_f = np.clip(np.log(mean_y / (1 - mean_y + 1e-12)) - np.log(mean_p / (1 - mean_p + 1e-12)), low, high)
    for _ in range(FIT_ITERATIONS):  # from the ratio of the mean odds, a few steps suffice
        q = scaled(p, np.exp(log_f)[context])
        slope = np.bincount(context, weights=y - q, minlength=n_contexts)
        curvature = np.bincount(context, weights=q * (1.0 - q), minlength=n_contexts)
        low, high = np.where(slope > 0, log_f, low), np.where(slope > 0, high, log_f)
        step = log_f + slope / np.maximum(curvature, 1e-300)
        previous, log_f = log_f, np.where((low < step) & (step < high), step, (low + high) / 2)
        if np.max(np.abs(log_f - previous)) < FIT_TOLERANCE:
            break
    codes = np.clip(np.round(np.exp(log_f) * FACTOR_SCALE), 1, FACTOR_LEVELS - 1).astype(np.int64)
    return np.where(np.bincount(context, minlength=n_contexts) > 0, codes, FACTOR_SCALE)


def factors(codes: np.ndarray) -> np.ndarray:
    return codes.astype(np.float64) / FACTOR_SCALE


def bits(y: np.ndarray, p: np.ndarray) -> float:
    """Ideal bits of binary symbols ``y`` coded with probabilities ``p`` of a one."""
    return float(-np.sum(np.log2(np.where(y, p, 1.0 - p))))


# Positions: contexts from the kept entries before each one in its kernel.


def _position_context(left: np.ndarray, above: np.ndarray, before: np.ndarray) -> np.ndarray:
    """The context from the left and upper neighbours' kept flags and the kept count before."""
    return left + 2 * above + 4 * (before > left + above)


def position_contexts(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The context of every entry of a (rows, in * kernel) mask, as the decoder sees it."""
    size, width = kernel_size(shape)
    kernels = mask.reshape(mask.shape[0], -1, size).astype(np.int64)
    before = np.cumsum(kernels, axis=2) - kernels
    left = np.zeros_like(kernels)
    left[:, :, 1:] = kernels[:, :, :-1]
    left[:, :, ::width] = 0
    above = np.zeros_like(kernels)
    above[:, :, width:] = kernels[:, :, :-width]
    return _position_context(left, above, before).reshape(mask.shape)


def coding_order(shape: tuple[int, int], kernel: int) -> np.ndarray:
    """Flat indices of a (rows, in * kernel) matrix in (row, kernel position, in) order."""
    rows, columns = shape
    return np.arange(rows * columns).reshape(rows, columns // kernel, kernel).transpose(0, 2, 1).reshape(-1)


def position_cost(mask: np.ndarray, p: np.ndarray, open_: np.ndarray, shape: tuple[int, ...]) -> tuple[float, np.ndarray]:
    """Bits of the open entries of ``mask`` under ``p`` scaled by fitted kernel factors (the
    factors' own bits included), and the factor codes."""
    context = position_contexts(mask, shape)[open_]
    y, p = mask[open_], p[open_]
    codes = fit_factors(y, p, context, POSITION_CONTEXTS)
    return bits(y, scaled(p, factors(codes)[context])) + POSITION_CONTEXTS * FACTOR_BITS, codes


def encode_positions(encoder, mask: np.ndarray, p: np.ndarray, open_: np.ndarray, shape: tuple[int, ...], codes: np.ndarray) -> None:
    """The open entries of ``mask`` (rows, in * kernel) with base probabilities ``p``."""
    encoder.encode(codes.astype(np.int32), FACTOR_MODEL)
    order = coding_order(mask.shape, kernel_size(shape)[0])
    context = position_contexts(mask, shape).reshape(-1)[order]
    chosen = open_.reshape(-1)[order]
    p = scaled(p.reshape(-1)[order], factors(codes)[context])
    encoder.encode(mask.reshape(-1)[order][chosen].astype(np.int32), BERNOULLI, p[chosen])


class RowDecoder:
    """Decodes one row of a kernel-context mask at a time, kernel position by position."""

    def __init__(self, decoder, shape: tuple[int, ...]) -> None:
        self.decoder = decoder
        self.size, self.width = kernel_size(shape)
        self.factors = factors(decoder.decode(FACTOR_MODEL, POSITION_CONTEXTS).astype(np.int64))

    def row(self, p: np.ndarray, open_: np.ndarray, fixed: np.ndarray) -> np.ndarray:
        """The mask of one row from its base probabilities, which entries are coded, and
        what the others are."""
        shape = (p.size // self.size, self.size)
        kernels = fixed.reshape(shape).astype(np.int64)
        p, open_ = p.reshape(shape), open_.reshape(shape)
        before = np.zeros(kernels.shape[0], dtype=np.int64)
        for j in range(self.size):
            left = kernels[:, j - 1] if j % self.width else 0
            above = kernels[:, j - self.width] if j >= self.width else 0
            context = _position_context(left, above, before)
            chosen = open_[:, j]
            if chosen.any():
                q = scaled(p[chosen, j], self.factors[context[chosen]])
                kernels[chosen, j] = self.decoder.decode(BERNOULLI, q)
            before += kernels[:, j]
        return kernels.reshape(-1).astype(bool)


# Signs: the context of each kept entry is the sign of the last kept one before it in its kernel.


def last_signs(mask: np.ndarray, negative: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Per entry of a (rows, in * kernel) mask: 0 when no entry before it in its kernel is
    kept, 1 when the last one is positive, 2 when negative."""
    size = kernel_size(shape)[0]
    kept = mask.reshape(-1, size)
    code = np.where(kept, np.where(negative.reshape(-1, size), 2, 1), 0)
    context = np.zeros_like(code)
    last = np.zeros(code.shape[0], dtype=code.dtype)
    for j in range(size):
        context[:, j] = last
        last = np.where(kept[:, j], code[:, j], last)
    return context.reshape(mask.shape)


def sign_contexts(mask: np.ndarray, negative: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """:func:`last_signs` of the kept entries, in their row-major order."""
    return last_signs(mask, negative, shape)[mask]


def priced(nonzero: np.ndarray, negative: np.ndarray, p: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """For a level search: each entry's probability of being kept, ``p`` scaled by factors
    fitted to the kernel contexts of ``nonzero``, and the bits of its sign if kept, by the
    share of negatives after the same last kept sign (both from the levels as they are)."""
    context = position_contexts(nonzero, shape)
    every = slice(None, None, max(1, nonzero.size // PRICING_SAMPLE))  # a search needs the factors roughly
    codes = fit_factors(nonzero.reshape(-1)[every], p.reshape(-1)[every], context.reshape(-1)[every], POSITION_CONTEXTS)
    scaled_p = scaled(p, factors(codes)[context])
    last = last_signs(nonzero, negative, shape)
    kept = np.bincount(last[nonzero], minlength=SIGN_CONTEXTS) + 1.0
    share = (np.bincount(last[nonzero & negative], minlength=SIGN_CONTEXTS) + 0.5) / kept
    return scaled_p, -np.log2(np.where(negative, share[last], 1 - share[last]))


def sign_cost(mask: np.ndarray, negative: np.ndarray, p: np.ndarray, open_: np.ndarray, shape: tuple[int, ...]) -> tuple[float, np.ndarray]:
    """Bits of the open signs (kept entries' row-major order) under ``p`` scaled by fitted
    kernel factors (the factors' bits included), and the factor codes."""
    context = sign_contexts(mask, negative, shape)[open_]
    y, p = negative[mask][open_], p[open_]
    codes = fit_factors(y, p, context, SIGN_CONTEXTS)
    return bits(y, scaled(p, factors(codes)[context])) + SIGN_CONTEXTS * FACTOR_BITS, codes


def _by_kernel_position(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Kernel position of each kept entry (row-major order)."""
    return np.flatnonzero(mask.reshape(-1)) % kernel_size(shape)[0]


def encode_signs(encoder, mask: np.ndarray, negative: np.ndarray, p: np.ndarray, open_: np.ndarray, shape: tuple[int, ...], codes: np.ndarray) -> None:
    """The open signs, kernel position by kernel position over the whole tensor."""
    encoder.encode(codes.astype(np.int32), FACTOR_MODEL)
    context = sign_contexts(mask, negative, shape)
    order = np.argsort(_by_kernel_position(mask, shape), kind="stable")
    chosen = open_[order]
    q = scaled(p[order], factors(codes)[context[order]])
    encoder.encode(negative[mask][order][chosen].astype(np.int32), BERNOULLI, q[chosen])


def decode_signs(decoder, mask: np.ndarray, known: np.ndarray, p: np.ndarray, open_: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The signs of the kept entries (row-major order): ``known`` where not open, decoded
    kernel position by kernel position where open."""
    codes = factors(decoder.decode(FACTOR_MODEL, SIGN_CONTEXTS).astype(np.int64))
    size = kernel_size(shape)[0]
    flat = np.flatnonzero(mask.reshape(-1))
    kernel, position = flat // size, flat % size
    negative = known.copy()
    last = np.zeros(mask.size // size, dtype=np.int64)
    for j in range(size):
        here = np.flatnonzero(position == j)
        context = last[kernel[here]]
        chosen = here[open_[here]]
        if chosen.size:
            q = scaled(p[chosen], codes[context[open_[here]]])
            negative[chosen] = decoder.decode(BERNOULLI, q).astype(bool)
        last[kernel[here]] = np.where(negative[here], 2, 1)
    return negative
