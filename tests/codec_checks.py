"""Shared checkers for the codec tests: a reference lossy pipeline, a round-trip check,
and one example message per registered message codec for the checks every codec gets.

The reference is written independently of resfed.codec (torch, a full stable sort,
Decimal arithmetic), so agreement bit for bit means both compute what the docs say.
A new message codec gets the registry's checks (config, golden bytes, fuzzing) by
adding its examples to :data:`EXAMPLES`; a registered codec without one fails.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import torch

from resfed.codec import (
    CodecConfig,
    CoordinatesCodec,
    CountsCodec,
    DeepCodec,
    MaskCodec,
    MessageCodec,
    MessageContext,
    PosteriorCounts,
    QSGDCodec,
    SZCodec,
    UniformCodec,
    decode,
    encode,
    MessageError,
    layout_of,
)
from resfed.codec.coders import CODERS

ALL_CODERS = tuple(CODERS)


def keep(n: int, sparsity: float) -> int:
    return math.ceil((1 - Decimal(repr(sparsity))) * n)


def _top(magnitude: torch.Tensor, k: int) -> torch.Tensor:
    """Ascending indices of the k largest nonzero magnitudes, ties to the lower index."""
    order = torch.sort(magnitude, descending=True, stable=True).indices[:k]
    order = order[magnitude[order] > 0]
    return torch.sort(order).values


def _lower_median(a: torch.Tensor) -> torch.Tensor:
    return torch.sort(a).values[(a.numel() - 1) // 2]


def _sign_values(kept: torch.Tensor, rule: str) -> torch.Tensor:
    magnitude = kept.abs()
    if rule == "median_zeroing" and kept.numel():
        kept = torch.where(magnitude >= _lower_median(magnitude), kept, torch.zeros_like(kept))
    out = torch.zeros_like(kept)
    for sign in (1, -1):
        part = kept * sign > 0
        if part.any():
            m = kept[part].abs()
            value = (
                torch.tensor(math.fsum(m.tolist()) / m.numel(), dtype=torch.float32)
                if rule == "mean"
                else _lower_median(m)
            )
            out[part] = sign * value
    return out


def reference(state: dict[str, torch.Tensor], config: CodecConfig) -> dict[str, torch.Tensor]:
    """What the receiver must reconstruct, by the definitions in the docs."""
    out = {name: t.clone() if not t.is_floating_point() else t.float().clone() for name, t in state.items()}
    if config.lossless:
        return out
    floats = [name for name, t in state.items() if t.is_floating_point()]
    flats = [state[name].float().reshape(-1) for name in floats]
    if config.scope == "global":
        allv = torch.cat(flats) if flats else torch.zeros(0)
        chosen = _top(allv.abs(), keep(allv.numel(), config.sparsity))
        starts = np.cumsum([0] + [f.numel() for f in flats])
        picks = [
            chosen[(chosen >= starts[i]) & (chosen < starts[i + 1])] - int(starts[i])
            for i in range(len(flats))
        ]
    else:
        picks = [_top(f.abs(), keep(f.numel(), config.sparsity)) for f in flats]
    for name, flat, idx in zip(floats, flats, picks):
        rec = torch.zeros_like(flat)
        kept = flat[idx]
        rec[idx] = kept if config.bits == 32 else _sign_values(kept, config.reconstruction)
        out[name] = rec.reshape(state[name].shape)
    return out


def bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same dtype, shape and bytes (so -0.0 != 0.0)."""
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and a.contiguous().numpy().tobytes() == b.contiguous().numpy().tobytes()
    )


def check_roundtrip(
    state: dict[str, torch.Tensor], config: CodecConfig, *, method_id: int = 3, round_index: int = 7
) -> bytes:
    """encode is deterministic, decode gives the reference bit for bit; returns the message."""
    layout = layout_of(state)
    data = encode(state, layout, config, method_id=method_id, round_index=round_index)
    assert encode(state, layout, config, method_id=method_id, round_index=round_index) == data
    header, out = decode(data, layout, expected_method=method_id, expected_round=round_index)
    assert (header.method_id, header.round_index) == (method_id, round_index)
    expected = reference(state, config)
    assert list(out) == list(expected)
    for name in expected:
        assert bits_equal(out[name], expected[name]), f"{name}: {out[name]} != {expected[name]}"
    return data


def squared_error(state: dict[str, torch.Tensor], decoded: dict[str, torch.Tensor]) -> float:
    """The summed squared error of ``decoded`` against ``state`` over its float tensors."""
    return sum(float(((decoded[k] - v).double() ** 2).sum()) for k, v in state.items() if v.is_floating_point())


def hashed(shape: tuple[int, ...], seed: int, scale: float = 1.0) -> torch.Tensor:
    """Deterministic pseudo-random float32 tensor from integer hashing (no RNG, no libm),
    identical on every platform and numpy version: what golden files need."""
    n = math.prod(shape)
    offset = np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64)
    h = (np.arange(n, dtype=np.uint64) + offset) * np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(31)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(29)
    mantissa = (h >> np.uint64(40)).astype(np.int64) - (1 << 23)  # in [-2**23, 2**23)
    return torch.from_numpy((mantissa.astype(np.float32) * np.float32(scale / 2**23)).reshape(shape))


def kernel_structured(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """A convolution residual as :func:`hashed` makes them (golden-safe): each kernel's
    entries share a sign and a scale, so kept entries cluster in kernels."""
    scale = hashed(shape[:2] + (1,) * (len(shape) - 2), seed)
    return scale * (0.3 * hashed(shape, seed + 1).abs() + 1)


KERNEL_STATE = {"conv.weight": kernel_structured((16, 8, 3, 3), 13), "fc.weight": hashed((10, 20), 15)}


def structured(shape: tuple[int, int], seed: int) -> torch.Tensor:
    """A residual-like matrix: heavy tails, some rows and columns far more active."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.exp(1.5 * torch.randn(shape[0], 1, generator=g))
    cols = torch.exp(1.5 * torch.randn(1, shape[1], generator=g))
    sign = torch.where(torch.rand(shape[0], 1, generator=g) < 0.5, -1.0, 1.0)
    u = torch.rand(shape, generator=g) - 0.5
    noise = -torch.sign(u) * torch.log1p(-2 * u.abs())  # Laplace(0, 1) by inverse CDF
    return (rows * cols * (sign * noise.abs() + 0.3 * noise)).float()


@dataclass(frozen=True)
class Example:
    """A codec, a payload and the context both ends share: one message of a format."""

    name: str
    codec: MessageCodec
    payload: Any
    context: MessageContext

    def encode(self) -> bytes:
        return self.codec.encode(self.payload, self.context)

    def decode(self, data: bytes) -> Any:
        return self.codec.decode(data, self.context)


def _examples() -> dict[str, list[Example]]:
    """Small messages of every format (fast enough to decode thousands of variants)."""
    state = {
        "conv.weight": hashed((8, 3, 5, 5), 1),
        "conv.bias": hashed((8,), 2),
        "fc.weight": hashed((10, 200), 3, 0.1),
        "fc.bias": hashed((10,), 4),
        "bn.n": torch.tensor(5),
    }
    layout = layout_of(state)
    theta = {"a.weight": hashed((20, 30), 5).abs() * 0.98 + 0.01, "a.bias": hashed((20,), 6).abs() * 0.98 + 0.01}
    mask = {k: (hashed(t.shape, 7 + i).abs() < t).float() for i, (k, t) in enumerate(theta.items())}
    ones = {k: (hashed(t.shape, 11 + i).abs() * 7).floor().long() for i, (k, t) in enumerate(theta.items())}
    pm = MessageContext(layout_of(theta), 6, 4, shared=theta)
    c = hashed((16,), 12).numpy()
    update = {k: hashed(t.shape, 20 + i) if t.is_floating_point() and k != "fc.bias" else torch.zeros_like(t) for i, (k, t) in enumerate(state.items())}
    biased = {k: t - 0.7 * update[k] if t.is_floating_point() else t for k, t in state.items()}  # a prediction that overshoots
    deep = MessageContext(layout, 4, 3)
    kernels = MessageContext(layout_of(KERNEL_STATE), 4, 3)
    return {
        "deep": [
            Example(f"sign_s90_{coder}", DeepCodec(CodecConfig(sparsity=0.9, bits=1, coder=coder)), state, deep)
            for coder in ALL_CODERS
        ]
        + [Example("f32_s50", DeepCodec(CodecConfig(sparsity=0.5, bits=32)), state, deep)]
        + [Example("conv_s80_kernel", DeepCodec(CodecConfig(sparsity=0.8, bits=1, coder="kernel")), KERNEL_STATE, kernels)],
        "sz": [Example("e2_t100", SZCodec(error_bound=1e-2, threshold=100), state, MessageContext(layout, 5, 3))],
        "fedpm_mask": [Example(f"{m}", MaskCodec(m), mask, pm) for m in ("global", "tensor")],
        "fedpm_counts": [Example("trials6", CountsCodec(), PosteriorCounts(ones, 6), pm)],
        "igc_coordinates": [
            Example("ul", CoordinatesCodec(16, "ul"), [(5, c)], MessageContext(layout, 7, 5)),
            Example("dl", CoordinatesCodec(16, "dl"), [(3, c), (5, 2 * c)], MessageContext(layout, 7, 5)),
        ],
        "qsgd": [Example(f"s{s}", QSGDCodec(levels=s), state, MessageContext(layout, 8, 3)) for s in (1, 4)],
        "uniform": [
            Example(f"bpe{b:g}{suffix}", UniformCodec(bits_per_entry=b, scope=scope), state, MessageContext(layout, 3, 3))
            for b in (0.5, 2)
            for scope, suffix in (("tensor", ""), ("global", "_global"))
        ]
        + [Example("bpe0.5_raw", UniformCodec(0.5, raw=frozenset({"conv.bias"})), state, MessageContext(layout, 3, 3))]
        + [Example("bpe0.25_rd", UniformCodec(0.25, rate_distortion=True), state, MessageContext(layout, 3, 3))]
        + [Example("bpe2_centroids", UniformCodec(2, centroids=True), state, MessageContext(layout, 3, 3))]
        + [Example("bpe1_trellis", UniformCodec(1, trellis=True), state, MessageContext(layout, 3, 3))]
        + [Example("conv_bpe1_kernel", UniformCodec(1, coder="kernel"), KERNEL_STATE, kernels)]
        + [Example("conv_bpe0.5_dct", UniformCodec(0.5, rate_distortion=True, kernel_dct=True), KERNEL_STATE, kernels)]
        + [Example("bpe0.5_gain", UniformCodec(0.5, prediction_gain=True), biased, MessageContext(layout, 3, 3, shared=update))],
    }


EXAMPLES = _examples()
ALL_EXAMPLES = [example for examples in EXAMPLES.values() for example in examples]


def with_crc(body: bytes) -> bytes:
    """``body`` followed by its CRC32, as every frame ends."""
    return body + struct.pack("<I", zlib.crc32(body))


def mutations(data: bytes, count: int, seed: int) -> list[tuple[bytes, bool]]:
    """(mutated message, whether it must be rejected), about ``3 * count`` of them.

    Truncations, trailing bytes (after the CRC, and before a recomputed CRC: a coder must
    notice unused bytes; but not a single 32-bit word, which a range decoder cannot tell
    from its own lookahead), single bit flips and random bytes must be rejected. Bit flips and
    random byte values behind a recomputed CRC reach the inner decoders, which may accept
    a change that still forms a valid message (a flipped float of a raw tensor) but must
    not raise anything but MessageError.
    """
    rng = np.random.default_rng(seed)
    body = data[:-4]
    out = [(b"", True), (data[:1], True), (data[: len(data) // 2], True), (data[:-1], True)]
    out += [(data + b"\x00", True), (data + data[:7], True)]
    out += [(with_crc(body + rng.bytes(n)), True) for n in (1, 3, 8, 12)]  # 4: see rangecoding.check_exhausted
    for _ in range(count):
        cut = int(rng.integers(len(data)))
        out.append((data[:cut], True))
        flipped = bytearray(data)
        flipped[int(rng.integers(len(flipped)))] ^= 1 << int(rng.integers(8))
        out.append((bytes(flipped), True))
        inner = bytearray(body)
        for _ in range(int(rng.integers(1, 4))):
            if rng.random() < 0.75:
                inner[int(rng.integers(len(inner)))] ^= 1 << int(rng.integers(8))
            else:
                inner[int(rng.integers(len(inner)))] = int(rng.integers(256))
        out.append((with_crc(bytes(inner)), False))
    out += [(rng.bytes(int(rng.integers(1, 2 * len(data) + 2))), True) for _ in range(count // 4)]
    return out


def check_hostile_bytes(decode: Callable[[bytes], Any], data: bytes, count: int, seed: int) -> int:
    """``decode`` accepts ``data`` and raises only MessageError on its mutations; returns how
    many CRC-recomputed mutations it accepted (a valid message that says something else)."""
    decode(data)
    accepted = 0
    for index, (bad, must_reject) in enumerate(mutations(data, count, seed)):
        try:
            decode(bad)
        except MessageError:
            continue
        except Exception as error:  # noqa: BLE001 - the point: nothing but MessageError
            raise AssertionError(f"mutation {index} ({len(bad)} bytes): {type(error).__name__}: {error}") from error
        assert not must_reject, f"mutation {index} ({len(bad)} bytes) was accepted"
        accepted += 1
    return accepted
