"""Tiny datasets written in the real raw formats, for tests and pipeline dry runs.

The writers produce byte-for-byte valid IDX ``.gz``, CIFAR pickle batches (as a
``.tar.gz`` or an extracted directory) and SVHN MATLAB v5 files, and return a copy of
the registry spec whose MD5s and sizes describe the written files. Pass that spec to
``locate``/``prepare`` to exercise the whole raw -> npz path without the real data.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import tarfile
from pathlib import Path
from typing import Literal

import numpy as np

from .checksums import md5_file
from .readers import Split, TrainTest, encode_idx
from .registry import DatasetSpec, get_spec


def fake_data(spec: DatasetSpec, n_train: int, n_test: int, seed: int = 0) -> TrainTest:
    """Random uint8 images; labels cycle through every class, then are shuffled."""
    rng = np.random.default_rng(seed)
    shape = (spec.channels, spec.image_size, spec.image_size)

    def split(n: int) -> Split:
        y = rng.permutation(np.arange(n) % spec.num_classes).astype(np.int64)
        return Split(rng.integers(0, 256, (n, *shape), dtype=np.uint8), y)

    return TrainTest(split(n_train), split(n_test))


def write_gz(path: Path, data: bytes) -> None:
    """Deterministic gzip (mtime 0, no file name) so fixture MD5s are stable."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
        f.write(data)


def cifar_batch_bytes(x: np.ndarray, y: np.ndarray, label_key: str) -> bytes:
    """A CIFAR batch as the originals store it: dict with bytes keys, (N, 3072) uint8."""
    d = {b"batch_label": b"synthetic", label_key.encode(): [int(v) for v in y],
         b"data": x.reshape(len(x), -1), b"filenames": [b"img_%d.png" % i for i in range(len(x))]}
    return pickle.dumps(d, protocol=2)


def write_svhn_mat(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """SVHN layout: X (32, 32, 3, N) uint8, y (N, 1) with digit 0 stored as 10."""
    import scipy.io

    labels = np.where(y == 0, 10, y).astype(np.uint8).reshape(-1, 1)
    scipy.io.savemat(path, {"X": np.ascontiguousarray(x.transpose(2, 3, 1, 0)), "y": labels},
                     format="5", do_compression=False)


def write_raw(name: str | DatasetSpec, directory: str | Path, *, n_train: int = 40, n_test: int = 20,
              seed: int = 0, layout: Literal["default", "extracted", "uncompressed"] = "default",
              ) -> tuple[DatasetSpec, TrainTest]:
    """Write a tiny copy of dataset ``name`` into ``directory`` in its original format.

    ``layout``: ``default`` writes what the publisher distributes (IDX ``.gz``, the CIFAR
    ``.tar.gz``, SVHN ``.mat``); ``extracted`` writes CIFAR's extracted directory;
    ``uncompressed`` writes IDX files without gzip. Returns the spec matching the files
    (MD5s, sizes) and the data written, for comparison.
    """
    spec = get_spec(name) if isinstance(name, str) else name
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = fake_data(spec, n_train, n_test, seed)
    files, members = list(spec.files), list(spec.members)
    if spec.fmt == "idx":
        arrays = {"train_images": data.train.x[:, 0], "train_labels": data.train.y.astype(np.uint8),
                  "test_images": data.test.x[:, 0], "test_labels": data.test.y.astype(np.uint8)}
        files = []
        for rf in spec.files:
            raw = encode_idx(arrays[rf.role])
            if layout == "uncompressed":
                (directory / rf.content_name).write_bytes(raw)
                content = md5_file(directory / rf.content_name)
                files.append(dataclasses.replace(rf, md5="0" * 32, content_md5=content))
            else:
                write_gz(directory / rf.name, raw)
                files.append(dataclasses.replace(rf, md5=md5_file(directory / rf.name), content_md5=_md5(raw)))
    elif spec.fmt in ("cifar10", "cifar100"):
        label_key = "fine_labels" if spec.fmt == "cifar100" else "labels"
        trains = [m for m in spec.members if m.role.startswith("train")]
        test = next(m for m in spec.members if m.role == "test")
        chunks = np.array_split(np.arange(n_train), len(trains))
        blobs = {m.name: cifar_batch_bytes(data.train.x[c], data.train.y[c], label_key)
                 for m, c in zip(trains, chunks, strict=True)}
        blobs[test.name] = cifar_batch_bytes(data.test.x, data.test.y, label_key)
        members = [dataclasses.replace(m, md5=_md5(blobs[m.name])) for m in spec.members]
        if layout == "extracted":
            base = directory / (spec.extracted_dir or "")
            base.mkdir(parents=True, exist_ok=True)
            for n, b in blobs.items():
                (base / n).write_bytes(b)
        else:
            archive = directory / spec.files[0].name
            _write_tar_gz(archive, spec.extracted_dir or "", blobs)
            files = [dataclasses.replace(spec.files[0], md5=md5_file(archive))]
    elif spec.fmt == "svhn":
        for rf, s in zip(spec.files, (data.train, data.test), strict=True):
            write_svhn_mat(directory / rf.name, s.x, s.y)
        files = [dataclasses.replace(rf, md5=md5_file(directory / rf.name)) for rf in spec.files]
    fake = dataclasses.replace(spec, files=tuple(files), members=tuple(members), n_train=n_train, n_test=n_test)
    return fake, data


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def _write_tar_gz(path: Path, folder: str, blobs: dict[str, bytes]) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        for name, b in blobs.items():
            info = tarfile.TarInfo(f"{folder}/{name}" if folder else name)
            info.size, info.mtime, info.mode = len(b), 0, 0o644
            tar.addfile(info, io.BytesIO(b))


__all__ = ["cifar_batch_bytes", "fake_data", "write_gz", "write_raw", "write_svhn_mat"]
