"""Round logs and provenance, written atomically.

A file appears under its final name only once it is complete (temp file + os.replace),
so an interrupted job never leaves a half-written rounds.csv or run.json behind.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

import resfed
from resfed.atomic import atomic_write_text
from resfed.records import RoundRecord, rounds_frame


def write_rounds_csv(path: str | Path, records: Iterable[RoundRecord], n_clients: int) -> None:
    atomic_write_text(path, rounds_frame(records, n_clients).to_csv(index=False))


#: Packages whose versions can change a run's numbers or bytes (torch: training; numpy: data and
#: partitions; constriction, pysz, zstandard: the entropy coders of the message formats).
RESULT_PACKAGES = ("torch", "numpy", "constriction", "pysz", "zstandard")


def git_state() -> dict[str, Any]:
    """Commit of the source tree the package was imported from and whether tracked files differ from it."""
    source = Path(resfed.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": bool(dirty)}


def code_digest() -> str:
    """A digest of the package's source files (.py, .yaml): what a resumed run must share
    with the run that wrote its checkpoint, with or without git."""
    package = Path(resfed.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(p for pattern in ("*.py", "*.yaml") for p in package.rglob(pattern)):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def package_versions() -> dict[str, str | None]:
    """Installed versions of RESULT_PACKAGES and of Python (None: not installed)."""
    versions: dict[str, str | None] = {}
    for name in RESULT_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {**versions, "python": platform.python_version()}


def provenance(device: str) -> dict[str, Any]:
    """Versions and machine facts recorded with every run."""
    return {
        "package_version": resfed.__version__,
        **git_state(),
        "code_digest": code_digest(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "package_versions": package_versions(),
        "platform": platform.platform(),
        "device": device,
    }


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
