"""resfed's uplink stages side by side with NNCodec (DeepCABAC, MPEG NNR) on real residuals.

Issue 14, point 6. For a subset of the uplink residuals a resfed sender coded (files
written with ``torch.save({"spec": ..., "residuals": [{"round": r, "state": {...}}]})``)
this measures, per residual and then as means over residuals:

a) rate-distortion: message bytes (``len`` of the complete resfed message, ``len`` of the
   complete NNCodec bitstream) against the relative squared error
   ``sum((r_hat - r)^2) / sum(r^2)`` over the float tensors (integer tensors excluded),
   for resfed's lossy stages (:data:`RESFED_STAGES`) and for NNCodec's own uniform
   quantiser over a sweep of ``qp``, dependent quantisation (``use_dq``) on and off, each
   with and without rate-distortion optimised quantisation (``lambda_scale`` 1 and 0).
   For each resfed stage the NNCodec bytes at the same error are interpolated per residual
   (log-bytes against log-error on NNCodec's Pareto front of that residual), then averaged.
b) lossless coding of the same symbols: the 99 % per-tensor top-k + 1 bit output (a sign
   per kept entry and one reconstruction value per sign and tensor) as resfed's ``context``
   coder writes it, against NNCodec coding the same integer levels in {-1, 0, 1} losslessly
   (int32 tensors, which NNCodec does not quantise) plus the reconstruction values as raw
   float32 (4 bytes each), counted apart.
c) with ``--bn-stats without`` (or ``both``) without the BatchNorm running statistics
   (names holding ``running_`` or ``num_batches_tracked``).

Each residual is coded on its own (no temporal context in either coder: NNCodec's
``tca`` and its difference-update signalling are off, resfed has no inter-round state),
except by the stages with ``prediction_gain``, which use the link's predicted update
(prediction minus anchor, which both ends of a link hold), saved beside each residual
as ``"update"`` by ``link_residuals.py``.

NNCodec stays out of resfed's dependencies; it lives in its own venv, with what
``import resfed.codec`` needs beside it (resfed itself comes from PYTHONPATH, so that a
run says which source tree it measured)::

    python3 -m venv /work/nnc-venv
    /work/nnc-venv/bin/pip install torch==2.13.0 nncodec==2.1.3   # one command: see below
    /work/nnc-venv/bin/pip install constriction==0.5.0 zstandard==0.25.0 pysz==1.1.0

(In one command, because nncodec pulls torchvision, which upgrades a torch installed before.)

``nncodec.nnc`` imports torchvision (datasets for its examples), which does not load
against the CPU torch; :func:`import_nncodec` puts stub modules in its place first.

Run (markdown on stdout, progress on stderr)::

    PYTHONPATH=$PWD /work/nnc-venv/bin/python benchmarks/nncodec_side_by_side.py \\
        RESIDUALS.pt [...] --every 3 --clients 2 [--bn-stats both] [--stages REGEX] > out.md
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.metadata
import math
import re
import sys
import time
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import resfed
from resfed.codec import CodecConfig, DeepCodec, MessageCodec, MessageContext, UniformCodec, layout_of

State = dict[str, torch.Tensor]

# The resfed stages, one row each: (label, codec id, keyword arguments). "deep" rows build
# DeepCodec(CodecConfig(**kwargs)), "uniform" rows UniformCodec(**kwargs); a row whose
# keywords the installed UniformCodec does not take is skipped (and listed in the output).
RESFED_STAGES: list[tuple[str, str, dict[str, Any]]] = [
    ("top-k 99 % + 1 bit, per tensor (paper)", "deep", {"sparsity": 0.99, "bits": 1}),
    ("top-k 97 % + 1 bit, per tensor", "deep", {"sparsity": 0.97, "bits": 1}),
    ("top-k 90 % + 1 bit, per tensor", "deep", {"sparsity": 0.9, "bits": 1}),
    ("top-k 99 % + 1 bit, global", "deep", {"sparsity": 0.99, "bits": 1, "scope": "global"}),
    ("top-k 97 % + 1 bit, global", "deep", {"sparsity": 0.97, "bits": 1, "scope": "global"}),
    ("top-k 90 % + 1 bit, global", "deep", {"sparsity": 0.9, "bits": 1, "scope": "global"}),
    *[
        (f"uniform {b} bit/entry, {scope}", "uniform", {"bits_per_entry": b, "scope": scope})
        for scope in ("global", "tensor")
        for b in (0.05, 0.1, 0.2, 0.5, 1.0)
    ],
    *[
        (f"uniform {b} bit/entry, global, rate-distortion", "uniform", {"bits_per_entry": b, "rate_distortion": True})
        for b in (0.05, 0.1, 0.2, 0.5, 1.0)
    ],
    *[
        (f"uniform {b} bit/entry, global, centroids", "uniform", {"bits_per_entry": b, "centroids": True})
        for b in (0.05, 0.1, 0.2, 0.5, 1.0)
    ],
    *[
        (f"uniform {b} bit/entry, global, rate-distortion, centroids", "uniform",
         {"bits_per_entry": b, "rate_distortion": True, "centroids": True})
        for b in (0.05, 0.1, 0.2, 0.5, 1.0)
    ],
    *[
        (f"uniform {b} bit/entry, global, trellis", "uniform", {"bits_per_entry": b, "trellis": True})
        for b in (0.05, 0.1, 0.2, 0.5, 1.0)
    ],
    *[
        (f"uniform {b} bit/entry, global, {levels}, kernel coder", "uniform",
         {"bits_per_entry": b, levels.replace("-", "_"): True, "coder": "kernel"})
        for levels in ("rate-distortion", "trellis")
        for b in (0.05, 0.1, 0.2, 0.5, 1.0)
    ],
    *[
        (f"uniform {b} bit/entry, global, {levels}, kernel coder, prediction gain", "uniform",
         {"bits_per_entry": b, levels.replace("-", "_"): True, "coder": "kernel", "prediction_gain": True})
        for levels in ("rate-distortion", "trellis")
        for b in (0.05, 0.1, 0.2, 0.5, 1.0)
    ],
    *[
        (f"uniform {b} bit/entry, global, rate-distortion, centroids, kernel coder, prediction gain", "uniform",
         {"bits_per_entry": b, "rate_distortion": True, "centroids": True, "coder": "kernel", "prediction_gain": True})
        for b in (0.05, 0.1, 0.2, 0.5, 1.0)
    ],
    *[
        (f"uniform {b} bit/entry, global, {levels}, kernel DCT{gain}", "uniform",
         {"bits_per_entry": b, levels.replace("-", "_"): True, "kernel_dct": True, "prediction_gain": bool(gain)})
        for gain in ("", ", prediction gain")
        for levels in ("rate-distortion", "trellis")
        for b in (0.05, 0.1, 0.2, 0.5, 1.0)
    ],
    *[
        (f"uniform {b} bit/entry, global, rate-distortion, centroids, kernel DCT", "uniform",
         {"bits_per_entry": b, "rate_distortion": True, "centroids": True, "kernel_dct": True})
        for b in (0.05, 0.1, 0.2, 0.5, 1.0)
    ],
]

# NNCodec's sweep: qp relative to 4 * log2(rms of the residual's float entries), i.e. the
# step (about 2 ** (qp / 4) with qp_density 2) relative to the residual's scale, so that
# every residual gets the same range of errors. Non-weight (1-D) tensors get NNCodec's own
# rule, qp - 8 (a step four times finer), as with nonweight_qp unset. Every qp, the finest
# steps NNCodec offers: its log-bytes against log-error curve is concave, so interpolating
# between points two qp apart (as before 2026-12-03) read its bytes up to 6-8 % too low,
# in its favour (benchmarks/nncodec.md). From -16, not -10: with the CNN's BatchNorm
# statistics some settings' fronts did not reach the errors of the finer stages from -10,
# and a setting out of range is left out of the best, in resfed's favour (the kernel
# coder's row at 1 bit/entry read 0.96x with -10, 1.06x with -16; 2026-12-03).
NNC_QP_OFFSETS: tuple[int, ...] = tuple(range(-16, 29))
# NNCodec's encoder settings swept: dependent quantisation (DQ, trellis) on and off, each
# with and without rate-distortion optimised quantisation (lambda_scale=1; 0 is the default).
NNC_VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("DQ", {"use_dq": True, "lambda_scale": 0.0}),
    ("no DQ", {"use_dq": False, "lambda_scale": 0.0}),
    ("DQ + RDOQ", {"use_dq": True, "lambda_scale": 1.0}),
    ("no DQ + RDOQ", {"use_dq": False, "lambda_scale": 1.0}),
)
BN_STAT_MARKERS = ("running_", "num_batches_tracked")


# --- NNCodec --------------------------------------------------------------------------


def _stub_module(name: str) -> types.ModuleType:
    """A module whose every public attribute is a dummy class (imports and subclassing work)."""

    class Dummy(type):
        def __getattr__(cls, attr: str) -> Any:
            if attr.startswith("__"):
                raise AttributeError(attr)
            return Dummy(attr, (), {})

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            return Dummy("instance", (), {})

    def module_getattr(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Dummy(attr, (), {})

    module = types.ModuleType(name)
    module.__getattr__ = module_getattr  # type: ignore[method-assign]
    module.__path__ = []  # a package, so that "from torchvision.x import y" resolves
    sys.modules[name] = module
    return module


def import_nncodec() -> types.ModuleType:
    """``nncodec.nnc``, with torchvision stubbed (NNCodec needs it only for its examples)."""
    if "torchvision" not in sys.modules:
        vision = _stub_module("torchvision")
        for sub in ("transforms", "datasets", "models", "models.segmentation", "io", "ops", "utils"):
            setattr(vision, sub.split(".")[0], _stub_module(f"torchvision.{sub}"))
    from nncodec import nnc

    return nnc


def to_nnc_dict(state: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """The parameter dict NNCodec takes: float32 arrays, integer tensors as int32 (coded
    losslessly, NNCodec's 'skip' approximation), scalars as shape (1,)."""
    out = {}
    for name, tensor in state.items():
        array = tensor.detach().cpu().numpy().reshape(tensor.shape or (1,))
        out[name] = array.astype(np.float32 if tensor.is_floating_point() else np.int32)
    return out


def nnc_roundtrip(nnc: types.ModuleType, params: dict[str, np.ndarray], **options: Any) -> tuple[int, dict[str, np.ndarray]]:
    """NNCodec's bitstream length in bytes and what it decodes to."""
    bitstream = nnc.compress(params, bitstream_path=None, return_bitstream=True, verbose=False, **options)
    decoded = nnc.decompress(bytearray(bitstream))
    return len(bitstream), decoded


# --- measures -------------------------------------------------------------------------


def float_names(state: Mapping[str, torch.Tensor]) -> list[str]:
    return [name for name, tensor in state.items() if tensor.is_floating_point()]


def relative_error(state: Mapping[str, torch.Tensor], decoded: Mapping[str, Any]) -> float:
    """sum((r_hat - r)^2) / sum(r^2) over the float tensors."""
    num = den = 0.0
    for name in float_names(state):
        r = state[name].detach().double().reshape(-1).numpy()
        r_hat = np.asarray(decoded[name], dtype=np.float64).reshape(-1)
        num += float(((r_hat - r) ** 2).sum())
        den += float((r**2).sum())
    return num / den


def rms(state: Mapping[str, torch.Tensor]) -> float:
    flat = torch.cat([state[name].detach().double().reshape(-1) for name in float_names(state)])
    return float(flat.pow(2).mean().sqrt())


def bytes_at_error(points: Iterable[tuple[float, float]], error: float) -> float | None:
    """Bytes at ``error`` on the Pareto front of (bytes, error) points, interpolated
    linearly in log-bytes against log-error; None outside the front's error range."""
    front: list[tuple[float, float]] = []
    for size, err in sorted(points):
        if not front or err < front[-1][1]:
            front.append((size, max(err, 1e-300)))
    errors = np.log([e for _, e in front][::-1])  # increasing
    sizes = np.log([s for s, _ in front][::-1])
    x = math.log(max(error, 1e-300))
    if not errors[0] <= x <= errors[-1]:
        return None
    return float(math.exp(np.interp(x, errors, sizes)))


# --- resfed stages --------------------------------------------------------------------


def build_stages(rows: Sequence[tuple[str, str, dict[str, Any]]]) -> tuple[list[tuple[str, MessageCodec]], list[str]]:
    """The codecs of the stage table, and the labels skipped (keywords not taken)."""
    uniform_fields = {f.name for f in dataclasses.fields(UniformCodec)}
    stages, skipped = [], []
    for label, codec_id, kwargs in rows:
        if codec_id == "deep":
            stages.append((label, DeepCodec(CodecConfig(**kwargs))))
        elif set(kwargs) <= uniform_fields:
            stages.append((label, UniformCodec(**kwargs)))
        else:
            skipped.append(label)
    return stages, skipped


def context_of(state: Mapping[str, torch.Tensor], codec: MessageCodec | None = None, update: State | None = None) -> MessageContext:
    """The message context of ``state``, with the predicted update where ``codec`` needs it."""
    if codec is None or not codec.needs_prediction:
        return MessageContext(layout_of(state), 3, 2)
    if update is None:
        raise SystemExit("a prediction_gain stage needs the residuals' predicted updates: capture them with link_residuals.py")
    return MessageContext(layout_of(state), 3, 2, shared=update)


def resfed_point(codec: MessageCodec, state: State, update: State | None) -> tuple[int, float]:
    """(message bytes, relative error) of one stage on one residual."""
    context = context_of(state, codec, update)
    data = codec.encode(state, context)
    decoded = codec.decode(data, context)
    return len(data), relative_error(state, {k: v.numpy() for k, v in decoded.items()})


# --- lossless coding of the 99 % + 1 bit symbols --------------------------------------


@dataclass
class LosslessRow:
    resfed_message: int  # complete resfed message, context coder
    nnc_levels: int  # NNCodec bitstream, one int32 level tensor per model tensor
    nnc_levels_one_tensor: int  # NNCodec bitstream, all levels in one int32 tensor
    scale_bytes: int  # the reconstruction values as raw float32, 4 bytes each
    kept: int  # nonzero levels


def levels_and_scales(decoded: Mapping[str, torch.Tensor]) -> tuple[dict[str, np.ndarray], int]:
    """The signed levels {-1, 0, 1} of a 1-bit message's float tensors (integer tensors as
    they are) and the number of reconstruction values (one per sign present and tensor)."""
    levels, scales = {}, 0
    for name, tensor in decoded.items():
        array = tensor.detach().cpu().numpy().reshape(tensor.shape or (1,))
        if not tensor.is_floating_point():
            levels[name] = array.astype(np.int32)
            continue
        levels[name] = np.sign(array).astype(np.int32)
        for sign in (1, -1):
            values = np.unique(array[levels[name] == sign])
            if values.size > 1:
                raise AssertionError(f"{name}: {values.size} reconstruction values for sign {sign}")
            scales += values.size
    return levels, scales


def lossless_row(nnc: types.ModuleType, state: State) -> LosslessRow:
    codec = DeepCodec(CodecConfig(sparsity=0.99, bits=1, coder="context"))
    context = context_of(state)
    data = codec.encode(state, context)
    levels, scales = levels_and_scales(codec.decode(data, context))
    size, decoded = nnc_roundtrip(nnc, levels)
    for name, array in levels.items():
        if not np.array_equal(decoded[name].reshape(array.shape), array):
            raise AssertionError(f"NNCodec did not return the levels of {name} exactly")
    flat = {"levels": np.concatenate([a.reshape(-1) for a in levels.values()])}
    one_size, one_decoded = nnc_roundtrip(nnc, flat)
    if not np.array_equal(one_decoded["levels"].reshape(-1), flat["levels"]):
        raise AssertionError("NNCodec did not return the concatenated levels exactly")
    kept = sum(int(np.count_nonzero(levels[name])) for name in float_names(state))
    return LosslessRow(len(data), size, one_size, 4 * scales, kept)


# --- the run --------------------------------------------------------------------------


def load_residuals(path: Path, every: int, clients: int) -> tuple[dict[str, Any], list[tuple[int, int, State, State | None]]]:
    """The file's spec and the residuals of every ``every``-th round (round % every == 0),
    the first ``clients`` of each round in file order, as (round, client, state, predicted
    update or None where the file has none)."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    picked, seen = [], {}
    for entry in blob["residuals"]:
        index = seen[entry["round"]] = seen.get(entry["round"], -1) + 1
        if entry["round"] % every == 0 and index < clients:
            picked.append((entry["round"], index, entry["state"], entry.get("update")))
    return blob["spec"], picked


def without_bn_stats(state: State) -> State:
    return {k: v for k, v in state.items() if not any(marker in k for marker in BN_STAT_MARKERS)}


@dataclass
class Results:
    stages: dict[str, list[tuple[int, float]]]  # label -> per residual (bytes, error)
    nnc: dict[str, dict[int, list[tuple[int, float]]]]  # variant -> qp offset -> per residual
    lossless: list[LosslessRow]


def measure(
    nnc: types.ModuleType, residuals: Sequence[State], updates: Sequence[State | None], stages: Sequence[tuple[str, MessageCodec]]
) -> Results:
    results = Results({label: [] for label, _ in stages}, {v: {o: [] for o in NNC_QP_OFFSETS} for v, _ in NNC_VARIANTS}, [])
    for i, (state, update) in enumerate(zip(residuals, updates)):
        start = time.perf_counter()
        for label, codec in stages:
            results.stages[label].append(resfed_point(codec, state, update))
        params, base = to_nnc_dict(state), round(4 * math.log2(rms(state)))
        for variant, options in NNC_VARIANTS:
            for offset in NNC_QP_OFFSETS:
                size, decoded = nnc_roundtrip(nnc, params, qp=base + offset, nonweight_qp=None, row_skipping=True, **options)
                results.nnc[variant][offset].append((size, relative_error(state, decoded)))
        results.lossless.append(lossless_row(nnc, state))
        print(f"  residual {i + 1}/{len(residuals)}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return results


def equal_error_bytes(results: Results, error: float, i: int) -> dict[str, float | None]:
    """NNCodec's bytes at ``error`` on residual ``i``, per variant and the best of them."""
    out = {v: bytes_at_error([results.nnc[v][o][i] for o in NNC_QP_OFFSETS], error) for v, _ in NNC_VARIANTS}
    found = [b for b in out.values() if b is not None]
    out["best"] = min(found) if found else None
    return out


def mean(values: Iterable[float | None]) -> float | None:
    """The mean, or None if any value is None (outside NNCodec's sweep)."""
    values = list(values)
    return None if any(v is None for v in values) else sum(values) / len(values)


def fmt_bytes(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


@dataclass
class FixedCost:
    """What an all-zero residual of the layout costs: each format's framing alone."""

    stages: dict[str, int]
    nnc: int


def fixed_cost(nnc: types.ModuleType, state: State, stages: Sequence[tuple[str, MessageCodec]]) -> FixedCost:
    zero = {k: torch.zeros_like(v) for k, v in state.items()}
    nnc_size, _ = nnc_roundtrip(nnc, to_nnc_dict(zero), qp=-40, nonweight_qp=None, use_dq=True, row_skipping=True)
    return FixedCost({label: len(codec.encode(zero, context_of(zero, codec, zero))) for label, codec in stages}, nnc_size)


def net_ratio(resfed_net: float, nnc_net: float | None, nnc_total: float | None) -> str:
    """resfed / NNCodec bytes less each one's fixed cost; '-' where NNCodec sends little
    more than its fixed cost (under a quarter of its bytes), where the ratio means nothing."""
    if nnc_net is None or nnc_total is None:
        return "n/a"
    return "-" if nnc_net < nnc_total / 4 else f"{resfed_net / nnc_net:.2f}"


def report(title: str, results: Results, n_entries: int, n_tensors: int, fixed: FixedCost) -> str:
    n = len(results.lossless)
    lines = [f"### {title}", "", f"{n} residuals, {n_entries:,} float entries in {n_tensors} tensors each.", ""]
    zeros = fixed.stages.values()
    lines += [f"Fixed cost (an all-zero residual of this layout): resfed {min(zeros)}-{max(zeros)} B by stage, NNCodec {fixed.nnc} B.", ""]
    lines += [
        "#### Bytes at equal error (NNCodec interpolated per residual, then averaged)",
        "",
    ]
    variants = [v for v, _ in NNC_VARIANTS]
    lines += [
        f"| resfed stage | error (mean) | resfed bytes | {' | '.join(f'NNCodec {v}' for v in variants)} | NNCodec, best | resfed / NNCodec | per-residual ratio (min-max) | ratio without fixed costs |",
        "|---|---|---|" + "---|" * len(variants) + "---|---|---|---|",
    ]
    for label, points in results.stages.items():
        at = [equal_error_bytes(results, error, i) for i, (_, error) in enumerate(points)]
        resfed_bytes = mean(size for size, _ in points)
        best = mean(a["best"] for a in at)
        ratios = [size / a["best"] for (size, _), a in zip(points, at) if a["best"]]
        ratio = "n/a" if best is None else f"{resfed_bytes / best:.2f}"
        spread = "n/a" if len(ratios) < n else f"{min(ratios):.2f}-{max(ratios):.2f}"
        net = net_ratio(resfed_bytes - fixed.stages[label], None if best is None else best - fixed.nnc, best)
        nnc_cells = " | ".join(fmt_bytes(mean(a[v] for a in at)) for v in variants)
        lines.append(
            f"| {label} | {mean(e for _, e in points):.3f} | {resfed_bytes:,.0f} | {nnc_cells} | {fmt_bytes(best)} | {ratio} | {spread} | {net} |"
        )
    lines += ["", "#### NNCodec sweep (means over residuals)", "", "| qp offset | " + " | ".join(f"{v}: bytes | error" for v in variants) + " |"]
    lines.append("|---|" + "---|---|" * len(variants))
    for offset in NNC_QP_OFFSETS:
        cells = [f"{mean(s for s, _ in results.nnc[v][offset]):,.0f} | {mean(e for _, e in results.nnc[v][offset]):.4f}" for v in variants]
        lines.append(f"| {offset:+d} | " + " | ".join(cells) + " |")
    rows = results.lossless
    lines += [
        "",
        "#### Lossless: the 99 % per-tensor top-k + 1 bit symbols (means over residuals)",
        "",
        "| coder | bytes |",
        "|---|---|",
        f"| resfed message, `context` coder (everything: header, positions, signs, reconstruction values) | {mean(r.resfed_message for r in rows):,.0f} |",
        f"| NNCodec, levels as one int32 tensor per model tensor | {mean(r.nnc_levels for r in rows):,.0f} |",
        f"| NNCodec, all levels in one int32 tensor | {mean(r.nnc_levels_one_tensor for r in rows):,.0f} |",
        f"| reconstruction values, raw float32 (to add to NNCodec's) | {mean(r.scale_bytes for r in rows):,.0f} |",
        f"| NNCodec total, per-tensor levels + values | {mean(r.nnc_levels + r.scale_bytes for r in rows):,.0f} |",
        f"| NNCodec total, one level tensor + values | {mean(r.nnc_levels_one_tensor + r.scale_bytes for r in rows):,.0f} |",
        f"| kept entries (nonzero levels) | {mean(r.kept for r in rows):,.0f} |",
        "",
    ]
    return "\n".join(lines)


def provenance() -> str:
    """Which resfed source was measured (path, sha256 of its codec sources) and versions."""
    root = Path(resfed.__file__).parent
    digest = hashlib.sha256()
    for source in sorted((root / "codec").rglob("*.py")):
        digest.update(source.relative_to(root).as_posix().encode() + b"\0" + source.read_bytes())
    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in ("torch", "nncodec", "constriction", "numpy"))
    fields = [f.name for f in dataclasses.fields(UniformCodec)]
    return f"resfed from {root} (resfed/codec sources sha256 {digest.hexdigest()[:16]}); {versions}; UniformCodec fields {fields}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="residual files (torch.save of spec + residuals)")
    parser.add_argument("--every", type=int, default=3, help="rounds r with r %% every == 0 (default 3)")
    parser.add_argument("--clients", type=int, default=2, help="first N residuals of each such round (default 2)")
    parser.add_argument(
        "--bn-stats", choices=("with", "without", "both"), default="with",
        help="measure the residuals with their BatchNorm running statistics, without them, or both (default with)",
    )
    parser.add_argument("--stages", default="", help="only the resfed stages whose label matches this regex")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    nnc = import_nncodec()
    stages, skipped = build_stages([row for row in RESFED_STAGES if re.search(args.stages, row[0])])
    print(f"{provenance()}\n")
    if skipped:
        print(f"Skipped stages (keywords the installed UniformCodec does not take): {skipped}\n")
    for path in args.files:
        spec, picked = load_residuals(path, args.every, args.clients)
        rounds = sorted({r for r, *_ in picked})
        print(f"## {path.name}: {spec.get('dataset_spec', {}).get('model')} on {spec.get('dataset')}, seed {spec.get('seed')}, rounds {rounds}, {args.clients} client(s) each\n")
        variants = [("all tensors", [s for _, _, s, _ in picked])] if args.bn_stats != "without" else []
        if args.bn_stats != "with":
            variants.append(("without BatchNorm running statistics", [without_bn_stats(s) for _, _, s, _ in picked]))
        updates = [u for *_, u in picked]
        for title, residuals in variants:
            print(f"{path.name}, {title}: {len(residuals)} residuals", file=sys.stderr, flush=True)
            results = measure(nnc, residuals, updates, stages)
            n_entries = sum(residuals[0][k].numel() for k in float_names(residuals[0]))
            fixed = fixed_cost(nnc, residuals[0], stages)
            print(report(title, results, n_entries, len(residuals[0]), fixed), flush=True)


if __name__ == "__main__":
    main()
