"""Atomic file writes: a temp file in the target's directory, then ``os.replace``.

Snakemake (and a user's Ctrl-C) must never see a half-written data file: a reader
either finds the old complete file or the new complete one. A SIGKILL during a write
leaves the temp file (``.<name>.<random>.part``); the next writer of that folder removes
it with :func:`remove_partial_writes`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PART_SUFFIX = ".part"


def remove_partial_writes(folder: str | Path, name: str = "*") -> list[Path]:
    """Delete the temp files that killed writes of ``folder/name`` left; returns them.

    Call it only where no other process writes the same files (a run directory, an
    output file of one job): a live writer's temp file would go too.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for part in folder.glob(f".{name}.*{PART_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
            removed.append(part)
    return removed


@contextlib.contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """Open a temp file next to ``path`` for binary writing; it replaces ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PART_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; data files are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_open(path) as f:
        f.write(text.encode("utf-8"))
    return Path(path)


def atomic_write_json(path: str | Path, payload: object) -> None:
    """Write ``payload`` as indented, key-sorted JSON atomically."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
