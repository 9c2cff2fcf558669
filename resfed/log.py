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

import pandas as pd
import torch

import resfed
from resfed.atomic import atomic_write_text
from resfed.federation import RoundRecord


def rounds_frame(records: Iterable[RoundRecord], n_clients: int) -> pd.DataFrame:
    """One row per round: bytes per client and summed, cumulative bits per client, metrics."""
    rows = []
    cumulative = {"ul": 0, "dl": 0}
    for r in records:
        row: dict[str, Any] = {"round": r.round}
        for direction, per_client in (("ul", r.ul_bytes), ("dl", r.dl_bytes)):
            cumulative[direction] += sum(per_client)
            row[f"{direction}_bytes"] = sum(per_client)
            row.update({f"{direction}_bytes_client{i}": b for i, b in enumerate(per_client)})
            row[f"{direction}_bits_cum_per_client"] = cumulative[direction] * 8 / n_clients
        row.update(
            test_accuracy=r.test_accuracy,
            test_loss=r.test_loss,
            train_loss=r.train_loss,
            sync_ok=r.sync_ok,
            wall_seconds=round(r.wall_seconds, 4),
        )
        rows.append(row)
    return pd.DataFrame(rows)


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
