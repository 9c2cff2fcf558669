"""An orthonormal DCT over each convolution kernel, so that a kernel's entries that move
together are coded as one coefficient.

In the paper CNN's residuals the entries of a 3x3 kernel share sign and size: the
kernel's mean (the DCT's first coefficient) holds 20-69 % of each convolution's energy
and the three lowest coefficients 50-91 %, where each of the nine positions holds about
a ninth (uplink residuals of rounds 1-4, Fashion-MNIST, benchmarks/nncodec.md). The transform is
orthonormal, so a squared error is the same on coefficients and on entries, and a
quantiser spends its bits where the energy is.

A tensor with kernels (:func:`..coders.kernels.has_kernels`: shape ``(out, in, k...)``,
more than one output channel and more than one entry per kernel) is coded as a
``(K * out, in)`` matrix of coefficients, ``K`` the entries per kernel: one ``(out, in)``
plane per coefficient, lowest first, so a coder's row and column models see each plane's
channels. Both ends compute in float64 in a fixed order of elementwise
operations from a float32 basis, so the receiver recovers the same float32 values as the
sender's own decoding (a BLAS product may sum in another order on another machine).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..coders.kernels import has_kernels


def coded_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape a tensor is coded in: one (out, in) plane per coefficient, or as it is."""
    return (math.prod(shape[2:]) * shape[0], shape[1]) if has_kernels(shape) else shape


@functools.cache
def basis(kernel: tuple[int, ...]) -> np.ndarray:
    """The orthonormal DCT-II of a kernel's entries (row-major), rows the coefficients from
    the lowest frequency, rounded to float32 so that every machine holds the same matrix."""
    matrix = np.ones((1, 1))
    for n in kernel:
        k, i = np.arange(n)[:, None], np.arange(n)[None, :]
        dct = np.cos(np.pi * (i + 0.5) * k / n) * np.where(k == 0, math.sqrt(1 / n), math.sqrt(2 / n))
        matrix = np.kron(matrix, dct)
    order = np.argsort(_frequency(kernel), kind="stable")
    return matrix[order].astype(np.float32).astype(np.float64)


def _frequency(kernel: tuple[int, ...]) -> np.ndarray:
    """Each Kronecker row's sum of frequency indices (rows ordered lowest first by it)."""
    grids = np.meshgrid(*(np.arange(n) for n in kernel), indexing="ij")
    return sum(grid.reshape(-1) for grid in grids)


def _times(columns: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``columns @ matrix.T`` in float64, summed in a fixed order."""
    out = np.zeros((columns.shape[0], matrix.shape[0]))
    for j in range(matrix.shape[1]):
        out += columns[:, j : j + 1] * matrix[:, j]
    return out


def forward(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A flat tensor's coefficients (flat float32, in :func:`coded_shape`'s order)."""
    if not has_kernels(shape):
        return values
    out, inputs, kernel = shape[0], shape[1], shape[2:]
    coefficients = _times(values.astype(np.float64).reshape(out * inputs, -1), basis(kernel))
    return coefficients.T.reshape(-1).astype(np.float32)


def inverse(coefficients: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A flat tensor's entries (flat float32) from its coefficients."""
    if not has_kernels(shape):
        return coefficients
    out, inputs, kernel = shape[0], shape[1], shape[2:]
    planes = coefficients.astype(np.float64).reshape(-1, out * inputs).T
    return _times(planes, basis(kernel).T).reshape(-1).astype(np.float32)
