"""Encode + decode time of the codec at 99% sparsity + 1 bit, per coder and model size,
against a straightforward per-element Python implementation of the same pipeline.

The naive loop implements tensor-scope top-k, the median quantiser, Golomb-coded runs
and the container with Python lists and per-element loops (the style of the official
code), and must produce byte-identical messages to ``encode(..., coder="golomb")``:
that is checked, so the speed ratio compares equal work. It is timed (once) on all three
sizes, nothing is extrapolated.

    .venv/bin/python benchmarks/codec_speed.py
"""

from __future__ import annotations

import math
import platform
import statistics
import struct
import subprocess
import time
import zlib
from fractions import Fraction
from functools import partial

import torch
from codec_workloads import MODELS, random_residual

from resfed.codec import CodecConfig, decode, encode, layout_of
from resfed.codec.coders import CODERS
from resfed.codec.container import FORMAT_VERSION, MAGIC
from resfed.codec.layout import layout_digest

SPARSITY = 0.99


# ---- the naive per-element pipeline (golomb coder, tensor scope, median, 1 bit) ----


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _naive_parameter(runs: list[int]) -> int:
    def cost(m: int) -> int:
        if m == 1:
            return sum(runs) + len(runs)
        b = (m - 1).bit_length()
        u = (1 << b) - m
        return sum(r // m + b + (1 if r % m >= u else 0) for r in runs)

    p = 1.0 / (sum(runs) / len(runs) + 1.0)
    m0 = 1 if p >= 0.5 else math.ceil(math.log(2 - p) / -math.log1p(-p))
    candidates = sorted({max(1, round(m0 * 2 ** (j / 4))) for j in range(-4, 5)})
    return min(candidates, key=lambda m: (cost(m), m))


def _naive_bits(value: int, width: int) -> list[int]:
    return [(value >> (width - 1 - i)) & 1 for i in range(width)]


def naive_encode(state: dict[str, torch.Tensor], method_id: int, round_index: int) -> bytes:
    layout = layout_of(state)
    entries, bits = [], []
    for index, spec in enumerate(layout):
        values = state[spec.name].reshape(-1).tolist()
        if not spec.is_float:
            entries.append((index, 0, b"".join(struct.pack("<q", v) for v in values)))
            continue
        n = len(values)
        k = math.ceil((1 - Fraction(repr(SPARSITY))) * n)
        order = sorted((i for i in range(n) if values[i] != 0.0), key=lambda i: (-abs(values[i]), i))
        kept = sorted(order[:k])
        if not kept:
            continue
        pos = sorted(values[i] for i in kept if values[i] > 0)
        neg = sorted(-values[i] for i in kept if values[i] < 0)
        payload = _varint(len(kept))
        if pos:
            payload += struct.pack("<f", pos[(len(pos) - 1) // 2])
        if neg:
            payload += struct.pack("<f", -neg[(len(neg) - 1) // 2])
        kind = 4 if pos and neg else (2 if pos else 3)
        dense = len(kept) == n
        entries.append((index, kind << 1 | dense, payload))
        if not dense:
            complement = 2 * len(kept) > n
            coded = [i for i in range(n) if i not in set(kept)] if complement else kept
            runs = [coded[0]] + [b - a - 1 for a, b in zip(coded, coded[1:])]
            m = _naive_parameter(runs)
            word = (m - 1) << 1 | complement
            width = (word + 1).bit_length()
            bits += _naive_bits(word + 1, 2 * width - 1)
            for r in runs:
                bits += [1] * (r // m) + [0]
            if m > 1:
                b = (m - 1).bit_length()
                u = (1 << b) - m
                for r in runs:
                    rem = r % m
                    bits += _naive_bits(rem if rem < u else (rem + u) >> 1, b - 1)
                for r in runs:
                    if r % m >= u:
                        bits.append((r % m + u) & 1)
        if pos and neg:
            bits += [1 if values[i] < 0 else 0 for i in kept]
    out = bytearray(
        struct.pack("<4sBBIIB", MAGIC, FORMAT_VERSION, method_id, round_index, layout_digest(layout), 2)
    )
    out += _varint(len(entries))
    previous = -1
    for index, mode, payload in entries:
        out += _varint((index - previous - 1) << 4 | mode) + _varint(len(payload))
        previous = index
    for _, _, payload in entries:
        out += payload
    bits += [0] * (-len(bits) % 8)
    out += bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
    return bytes(out + struct.pack("<I", zlib.crc32(out)))


def naive_decode(data: bytes, state_shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Per-bit parsing of what :func:`naive_encode` writes (no validation: speed only)."""

    def varint(pos: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[pos]
            value |= (byte & 0x7F) << shift
            pos += 1
            if byte < 0x80:
                return value, pos
            shift += 7

    names = list(state_shapes)
    count, pos = varint(15)
    table, index = [], -1
    for _ in range(count):
        head, pos = varint(pos)
        length, pos = varint(pos)
        index += (head >> 4) + 1
        table.append((index, head & 15, length))
    payloads = []
    for _, _, length in table:
        payloads.append(data[pos : pos + length])
        pos += length
    bits = [(byte >> (7 - i)) & 1 for byte in data[pos:-4] for i in range(8)]
    at = 0

    def read(width: int) -> int:
        nonlocal at
        value = 0
        for _ in range(width):
            value = value << 1 | bits[at]
            at += 1
        return value

    out = {}
    for (index, mode, _), payload in zip(table, payloads):
        name = names[index]
        n = math.prod(state_shapes[name])
        if mode == 0:
            out[name] = torch.tensor(list(struct.unpack(f"<{n}q", payload))).reshape(state_shapes[name])
            continue
        kind, dense = mode >> 1, mode & 1
        k, p = varint_in(payload)
        vals = list(struct.unpack(f"<{(len(payload) - p) // 4}f", payload[p:]))
        kept = list(range(n))
        if not dense:
            zeros = 0
            while bits[at] == 0:
                zeros += 1
                at += 1
            word = read(zeros + 1) - 1
            m, complement = (word >> 1) + 1, word & 1
            count = n - k if complement else k
            quotients = []
            for _ in range(count):
                q = 0
                while bits[at] == 1:
                    q += 1
                    at += 1
                at += 1
                quotients.append(q)
            rems = [0] * count
            if m > 1:
                b = (m - 1).bit_length()
                u = (1 << b) - m
                highs = [read(b - 1) for _ in range(count)]
                rems = [h if h < u else ((h << 1) | read(1)) - u for h in highs]
            coded, position = [], -1
            for q, r in zip(quotients, rems):
                position += q * m + r + 1
                coded.append(position)
            kept = [i for i in range(n) if i not in set(coded)] if complement else coded
        flat = [0.0] * n
        for i in kept:
            negative = read(1) if kind == 4 else kind == 3
            flat[i] = vals[1] if kind == 4 and negative else vals[0]
        out[name] = torch.tensor(flat).reshape(state_shapes[name])
    return out


def varint_in(buf: bytes) -> tuple[int, int]:
    value = shift = pos = 0
    while True:
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7


# ---- measurement ----


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(2)
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model_name = next(
        (line.split(":", 1)[1].strip() for line in cpu.splitlines() if "Model name" in line), "?"
    )
    print(f"machine: {model_name}, {torch.get_num_threads()} threads, Python {platform.python_version()}")
    repeats = {"LeNet-5": 20, "CNN": 5, "ResNet-18": 3}
    rows = []
    for label, model in MODELS.items():
        state = random_residual(model())
        layout = layout_of(state)
        n = sum(t.numel() for t in state.values())
        for coder in CODERS:
            config = CodecConfig(sparsity=SPARSITY, bits=1, coder=coder)
            data = encode(state, layout, config, method_id=1, round_index=1)
            enc = timed(partial(encode, state, layout, config, method_id=1, round_index=1), repeats[label])
            dec = timed(partial(decode, data, layout), repeats[label])
            rows.append((label, n, coder, len(data), enc, dec))
        start = time.perf_counter()
        naive = naive_encode(state, 1, 1)
        mid = time.perf_counter()
        naive_out = naive_decode(naive, {k: tuple(v.shape) for k, v in state.items()})
        end = time.perf_counter()
        golomb = encode(
            state, layout, CodecConfig(sparsity=SPARSITY, bits=1, coder="golomb"), method_id=1, round_index=1
        )
        assert naive == golomb, "the naive pipeline must write the same bytes"
        assert all(torch.equal(naive_out[k].to(v.dtype), v) for k, v in decode(golomb, layout)[1].items())
        rows.append((label, n, "naive loop (golomb)", len(naive), mid - start, end - mid))
    print("| model | state entries | coder | bytes | encode s | decode s | encode+decode s |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for label, n, coder, size, enc, dec in rows:
        print(f"| {label} | {n:,} | {coder} | {size:,} | {enc:.4f} | {dec:.4f} | {enc + dec:.4f} |")
    print()
    print("| model | naive / golomb | naive / context (default) |")
    print("|---|---:|---:|")
    for label in MODELS:
        total = {r[2]: r[4] + r[5] for r in rows if r[0] == label}
        naive = total["naive loop (golomb)"]
        print(f"| {label} | {naive / total['golomb']:.0f}x | {naive / total['context']:.0f}x |")


if __name__ == "__main__":
    main()
