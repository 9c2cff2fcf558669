"""Synthetic run directories in the training code's format, for tests of the report.

Kept in the package (not in ``tests/``) so that tests of other layers, e.g. the
Snakemake report rule, can build the same fixtures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["write_synthetic_run"]


def _per_round(value: int | Sequence[int], n: int) -> list[int]:
    if isinstance(value, int):
        return [value] * n
    if len(value) != n:
        raise ValueError(f"expected {n} per-round byte counts, got {len(value)}")
    return list(value)


def write_synthetic_run(root: str | os.PathLike[str], *, dataset: str = "fmnist",
                        partition: str = "iid", method: str = "fedavg",
                        variant: str = "baseline", seed: int = 0,
                        accuracy: Sequence[float] = (0.5, 0.8, 0.9),
                        ul_bytes_per_client: int | Sequence[int] = 250_000,
                        dl_bytes_per_client: int | Sequence[int] = 250_000,
                        n_clients: int = 2, target: float = 0.85,
                        sync_ok: Sequence[bool] | None = None,
                        info: dict[str, Any] | None = None) -> Path:
    """Write ``<root>/<dataset>/<partition>/<method>/<variant>/seed<seed>/`` and return it.

    Every client sends ``*_bytes_per_client[t]`` bytes in round t+1, so the cumulative
    bits per client after round t are ``8 * sum(bytes[:t])``: easy to compute by hand.
    """
    n = len(accuracy)
    ul, dl = _per_round(ul_bytes_per_client, n), _per_round(dl_bytes_per_client, n)
    sync = list(sync_ok) if sync_ok is not None else [True] * n
    cols: dict[str, Any] = {
        "round": list(range(1, n + 1)),
        "ul_bytes": [b * n_clients for b in ul],
        "dl_bytes": [b * n_clients for b in dl],
    }
    for d, per in (("ul", ul), ("dl", dl)):
        for c in range(n_clients):
            cols[f"{d}_bytes_client{c}"] = per
    for d in ("ul", "dl"):
        cum, out = 0, []
        for total in cols[f"{d}_bytes"]:
            cum += total
            out.append(cum * 8 / n_clients)
        cols[f"{d}_bits_cum_per_client"] = out
    cols.update({
        "test_accuracy": list(accuracy),
        "test_loss": [1 - a for a in accuracy],
        "train_loss": [1.1 - a for a in accuracy],
        "sync_ok": sync,
        "wall_seconds": [0.5] * n,
    })
    run_dir = Path(root) / dataset / partition / method / variant / f"seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(cols).to_csv(run_dir / "rounds.csv", index=False)
    meta: dict[str, Any] = {
        "run": {"dataset": dataset, "partition": partition, "method": method,
                "variant": variant, "seed": seed},
        "target_accuracy": target,
        "config": {"variant": variant},
        "config_hash": f"cfg-{method}-{variant}",
        "package_version": "0.1.0",
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "torch_version": "2.x",
        "device": "cpu",
        "data_checksum": f"data-{dataset}",
        "partition_hash": f"part-{dataset}-{partition}",
        "preprocessing": {"standardise": True},
        "param_count": 61706,
        "started": "2024-01-01T00:00:00",
        "finished": "2024-01-01T00:01:00",
        "rounds_completed": n,
    }
    meta.update(info or {})
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return run_dir
