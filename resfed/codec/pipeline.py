"""encode / decode: the lossy stages, the coders and the container put together.

Both ends of a ResFed link call :func:`decode` on the same bytes (the sender on its own
message) so that their recovered models are bit-identical; encoding is deterministic
(same input, same bytes) and decoding is a pure function of the bytes and the layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from .framing import get_varint, put_varint
from .coders import CODER_IDS, CODERS
from .coders.base import Slot, Sparse
from .config import CodecConfig
from .container import FORMAT_VERSION, Entry, Header, Kind, entry_mode, pack, unpack
from .errors import MessageError
from .layout import Layout, TensorSpec, layout_digest, payload_dtype
from .quantize import quantize_signs
from .sparsify import select


@dataclass(frozen=True)
class Planned:
    """One tensor after the lossy stages: what its payload will say, before coding."""

    kind: Kind
    values: bytes  # RAW: the whole payload; otherwise the values in front of the coder's bytes
    idx: np.ndarray | None = None  # kept positions (not for RAW)
    negative: np.ndarray | None = None  # signs, only for SIGN_BOTH


def flat_tensors(state: Mapping[str, torch.Tensor], layout: Layout) -> list[torch.Tensor]:
    """The state as flat tensors in layout order (floats as float32), checked, on their own device.

    Tensors may share memory with the state; nothing downstream writes to them.
    """
    names = [s.name for s in layout]
    if set(state) != set(names):
        missing, extra = sorted(set(names) - set(state)), sorted(set(state) - set(names))
        raise ValueError(f"state does not match the layout: missing {missing}, unexpected {extra}")
    flats = []
    for spec in layout:
        t = state[spec.name]
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != spec.shape or t.dtype != spec.dtype:
            got = (type(t).__name__, getattr(t, "dtype", None), tuple(getattr(t, "shape", ())))
            raise ValueError(f"tensor {spec.name!r}: expected {spec.dtype} {spec.shape}, got {got}")
        flat = t.detach().to(torch.float32 if spec.is_float else spec.dtype).reshape(-1)
        if spec.is_float and not bool(torch.isfinite(flat).all()):
            raise ValueError(f"tensor {spec.name!r} holds NaN or Inf; it cannot be sent")
        flats.append(flat)
    return flats


def flat_arrays(state: Mapping[str, torch.Tensor], layout: Layout) -> list[np.ndarray]:
    """:func:`flat_tensors` as host numpy arrays, for coders that need all of every tensor."""
    return [flat.cpu().numpy() for flat in flat_tensors(state, layout)]


def plan(
    state: Mapping[str, torch.Tensor], layout: Layout, config: CodecConfig, raw: frozenset[str] = frozenset()
) -> list[Planned | None]:
    """Run sparsification and quantisation; None for a float tensor with nothing kept.
    Entries named in ``raw`` are sent raw (exactly), whatever ``config`` says.

    Both stages run where the state lives (a GPU keeps its tensors); only the kept
    positions, signs and values, and the tensors sent raw, are copied to the host.
    """
    flats = flat_tensors(state, layout)
    floats = [i for i, spec in enumerate(layout) if spec.is_float and spec.name not in raw]
    kept = {}
    if not config.lossless:
        kept = dict(zip(floats, select([flats[i] for i in floats], config.sparsity, config.scope)))
    out: list[Planned | None] = []
    for i, spec in enumerate(layout):
        flat = flats[i]
        if i not in kept:
            out.append(Planned(Kind.RAW, flat.cpu().numpy().astype(payload_dtype(spec)).tobytes()))
        elif kept[i].numel() == 0:
            out.append(None)
        elif config.bits == 32:
            values = flat[kept[i]].cpu().numpy().astype("<f4").tobytes()
            out.append(Planned(Kind.FLOAT32, values, kept[i].cpu().numpy()))
        else:
            q = quantize_signs(flat, kept[i], config.reconstruction)
            pair = [v for v in (q.pos_value, q.neg_value) if v is not None]
            if q.neg_value is None:
                kind = Kind.SIGN_POS
            elif q.pos_value is None:
                kind = Kind.SIGN_NEG
            else:
                kind = Kind.SIGN_BOTH
            negative = q.negative if kind == Kind.SIGN_BOTH else None
            out.append(Planned(kind, np.array(pair, dtype="<f4").tobytes(), q.idx, negative))
    return out


def encode(
    state: Mapping[str, torch.Tensor],
    layout: Layout,
    config: CodecConfig,
    *,
    method_id: int,
    round_index: int,
    raw: frozenset[str] = frozenset(),
) -> bytes:
    """Compress ``state`` (a model state or a residual) into one message.

    Floating-point entries go through top-k and the quantiser of ``config``, integer
    entries and the entries named in ``raw`` are sent raw; ``config.lossless`` sends
    every float exactly.
    """
    coder = CODERS[config.coder]
    tensors, sparse = [], []
    for index, (spec, p) in enumerate(zip(layout, plan(state, layout, config, raw))):
        if p is None:
            continue
        if p.kind == Kind.RAW:
            tensors.append((index, entry_mode(Kind.RAW, False), p.values))
            continue
        dense = p.idx.size == spec.numel
        payload = bytearray()
        put_varint(payload, p.idx.size)
        tensors.append((index, entry_mode(p.kind, dense), bytes(payload + p.values)))
        sparse.append(Sparse(spec.shape, None if dense else p.idx, p.negative))
    header = Header(FORMAT_VERSION, method_id, round_index, layout_digest(layout), coder.coder_id)
    return pack(header, tensors, coder.encode(sparse) if sparse else b"")


def decode(
    data: bytes | bytearray | memoryview,
    layout: Layout,
    *,
    expected_method: int | None = None,
    expected_round: int | None = None,
    device: torch.device | str = "cpu",
) -> tuple[Header, dict[str, torch.Tensor]]:
    """The state a message carries: float32 (or the original integer dtype) tensors on ``device``.

    Only the kept positions and values travel to ``device``; the dense tensors are
    built there (a GPU receiver never copies a full tensor from the host).

    Raises :class:`MessageError` on anything malformed, corrupted, truncated, not finite,
    or meant for another method, round or model layout.
    """
    view = memoryview(data)
    message = unpack(view, layout, expected_method=expected_method, expected_round=expected_round)
    flats: dict[int, torch.Tensor] = {}
    sparse: list[tuple[Slot, Entry, np.ndarray]] = []
    for entry in message.entries:
        spec = layout[entry.index]
        try:
            if entry.kind == Kind.RAW:
                raw = _raw(view[entry.offset : entry.offset + entry.length], spec)
                flats[entry.index] = torch.from_numpy(raw).to(device)
            else:
                slot, values = _sparse_payload(view[entry.offset : entry.offset + entry.length], entry, spec)
                sparse.append((slot, entry, values))
        except MessageError as error:
            raise error.located(offset=entry.offset, tensor=spec.name) from None
    if sparse:
        coder = CODER_IDS[message.header.coder_id]
        stream = view[message.stream_offset : message.stream_offset + message.stream_length]
        try:
            decoded = coder.decode(stream, [slot for slot, _, _ in sparse])
        except MessageError as error:
            raise error.located(offset=message.stream_offset) from None
        for (slot, entry, values), (idx, negative) in zip(sparse, decoded):
            flats[entry.index] = _scatter(slot, entry.kind, values, idx, negative, device)
    elif message.stream_length:
        raise MessageError(
            f"{message.stream_length} stream bytes but no sparse tensor", offset=message.stream_offset
        )
    out = {}
    for index, spec in enumerate(layout):
        if index not in flats and not spec.is_float:
            raise MessageError("integer tensor missing from the message", tensor=spec.name)
        flat = flats.get(index)
        if flat is None:
            flat = torch.zeros(spec.numel, dtype=torch.float32, device=device)
        out[spec.name] = flat.reshape(spec.shape)
    return message.header, out


def _raw(buf: memoryview, spec: TensorSpec) -> np.ndarray:
    wire = np.dtype(payload_dtype(spec))
    flat = np.frombuffer(buf, dtype=wire).astype(wire.newbyteorder("="))
    return _finite(flat) if spec.is_float else flat


def _sparse_payload(buf: memoryview, entry: Entry, spec: TensorSpec) -> tuple[Slot, np.ndarray]:
    """The kept count and the values of a sparse payload, checked against the layout."""
    n = spec.numel
    k, pos = get_varint(buf, 0, len(buf), "kept count")
    if not 1 <= k <= n:
        raise MessageError(f"kept count {k} outside [1, {n}]")
    if entry.dense != (k == n):
        raise MessageError(f"dense flag {entry.dense} contradicts kept count {k} of {n}")
    n_values = {Kind.FLOAT32: k, Kind.SIGN_BOTH: 2}.get(entry.kind, 1)
    if len(buf) - pos != 4 * n_values:
        raise MessageError(
            f"{entry.kind.name} payload needs {4 * n_values} value bytes, has {len(buf) - pos}"
        )
    values = _finite(np.frombuffer(buf, dtype="<f4", offset=pos).astype(np.float32))
    _check_signs(entry.kind, values)
    return Slot(spec.name, spec.shape, k, entry.dense, entry.kind == Kind.SIGN_BOTH), values


def _check_signs(kind: Kind, values: np.ndarray) -> None:
    """What the encoder guarantees: kept values are nonzero (top-k never keeps a zero), and a
    reconstruction value has the sign of the entries it stands for. A flipped sign bit or a
    zeroed value is then an error, not a silently different model."""
    if kind == Kind.FLOAT32:
        zero = np.flatnonzero(values == 0)
        if zero.size:
            raise MessageError(f"kept value {int(zero[0])} is zero; only nonzero values are kept")
        return
    signs = {Kind.SIGN_POS: (1,), Kind.SIGN_NEG: (-1,), Kind.SIGN_BOTH: (1, -1)}[kind]
    for value, sign in zip(values, signs):
        if np.sign(value) != sign:
            which = "positive" if sign > 0 else "negative"
            raise MessageError(f"{kind.name} reconstruction value {value} is not {which}")


def _scatter(
    slot: Slot,
    kind: Kind,
    values: np.ndarray,
    idx: np.ndarray | None,
    negative: np.ndarray | None,
    device: torch.device | str,
) -> torch.Tensor:
    """The dense flat tensor on ``device``, from the host-side kept positions and values."""
    flat = torch.zeros(slot.n, dtype=torch.float32, device=device)
    kept = np.where(negative, values[1], values[0]) if kind == Kind.SIGN_BOTH else values
    at = slice(None) if idx is None else torch.as_tensor(np.asarray(idx, dtype=np.int64), device=device)
    flat[at] = torch.as_tensor(kept, device=device)
    return flat


def _finite(values: np.ndarray) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise MessageError(f"non-finite value {values[bad[0]]} at entry {int(bad[0])}")
    return values
