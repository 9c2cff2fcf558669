"""Checksums: MD5 of raw files (what publishers list) and sha256 of prepared arrays.

Raw files are checked against the publisher's MD5 of the file, or, for a ``.gz`` file,
against the MD5 of its decompressed bytes: a recompressed copy (Debian's Fashion-MNIST)
holds the same data under a different gzip stream. Prepared arrays get a sha256 over
their dtype, shape and bytes, independent of the container (npz files carry timestamps).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ChecksumError, DataFormatError
from .registry import RawFile

_CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


def md5_file(path: str | Path) -> str:
    """Hex MD5 of a file's bytes, read in chunks (SVHN's train file is 182 MB)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def is_gzip(path: str | Path) -> bool:
    """Whether the file starts with the gzip magic bytes (names can lie)."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def md5_gz_content(path: str | Path) -> str:
    """Hex MD5 of the decompressed bytes of a gzip file."""
    h = hashlib.md5()
    try:
        with gzip.open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
    except (OSError, EOFError, zlib.error) as e:
        raise DataFormatError(f"{path}: not a valid gzip stream ({e})") from e
    return h.hexdigest()


@dataclass(frozen=True)
class FileCheck:
    """The outcome of checking one raw file: which MD5 matched and against what."""

    path: str
    name: str
    md5: str  # MD5 of the file as found
    matched: str  # "published" (file MD5) or "content" (MD5 of the decompressed bytes)
    expected: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "md5": self.md5, "matched": self.matched, "expected": self.expected}


def verify_raw_file(path: str | Path, spec: RawFile) -> FileCheck:
    """Check ``path`` against ``spec``; raise :class:`ChecksumError` naming both MD5s.

    Accepted: the file's MD5 equals the published one; or the file is gzip and its
    decompressed MD5 equals ``spec.content_md5``; or the file is the decompressed form
    itself and its MD5 equals ``spec.content_md5``.
    """
    path = Path(path)
    md5 = md5_file(path)
    if md5 == spec.md5:
        return FileCheck(str(path), spec.name, md5, "published", spec.md5)
    tried = [f"file MD5 {md5} (published: {spec.md5})"]
    if spec.content_md5 is not None:
        content = md5_gz_content(path) if is_gzip(path) else md5
        if content == spec.content_md5:
            return FileCheck(str(path), spec.name, md5, "content", spec.content_md5)
        tried.append(f"decompressed MD5 {content} (known: {spec.content_md5})")
    raise ChecksumError(
        f"{path}: checksum mismatch for {spec.name}: " + "; ".join(tried)
        + ". The file is corrupt, truncated or a different version; delete it and fetch it again."
    )


def data_checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 (hex) over the named arrays: name, dtype, shape and C-order bytes, by name.

    Identifies the *data*, not a file: two npz files with the same arrays have the same
    checksum even though zip timestamps differ.
    """
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}\n".encode())
        h.update(a.reshape(-1).view(np.uint8).data)
    return h.hexdigest()
