"""Round logs and provenance, written atomically.

A file appears under its final name only once it is complete (temp file + os.replace),
so an interrupted job never leaves a half-written rounds.csv or run.json behind.
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import resfed
from resfed.atomic import atomic_write_text
from resfed.records import RoundRecord, rounds_frame


def write_rounds_csv(path: str | Path, records: Iterable[RoundRecord], n_clients: int) -> None:
    atomic_write_text(path, rounds_frame(records, n_clients).to_csv(index=False))


def git_commit() -> str | None:
    """Commit of the source tree the package was imported from, with '-dirty' if modified."""
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
        return None
    return commit + ("-dirty" if dirty else "")


def provenance(device: str) -> dict[str, Any]:
    """Versions and machine facts recorded with every run."""
    return {
        "package_version": resfed.__version__,
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
    }


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
