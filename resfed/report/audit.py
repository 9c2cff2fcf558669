"""Audit table: every Table 1 cell and figure series traced to its seeds' run directories.

One row per (item, seed): the run directory, that seed's value, and the provenance that
says whether the seeds are comparable (config hash, git commit, data checksum,
partition hash), whether every round's two link ends held the same model (``sync_ok``),
and whether the logged cumulative bits agree with the per-client byte counts.

Recomputing a Table 1 cell by hand, from ``rounds.csv`` alone
-------------------------------------------------------------
For each seed listed in the audit row's ``run_dir``:

1. open ``<run_dir>/rounds.csv`` and take the first row (smallest ``round``) whose
   ``test_accuracy`` is >= the cell's ``target`` (e.g. 0.85 for Fashion-MNIST);
   if there is none, that seed did not reach the target and is left out of the mean;
2. read ``ul_bits_cum_per_client`` in that row (``dl_bits_cum_per_client`` for the
   ResFed DL row) and divide by 1e6: that seed's CV in Mb;
3. the cell is the mean (and sample std, ddof=1) of those values over the seeds that
   reached the target; BR = 1 - mean CV_method / mean CV_baseline.

To check the cumulative column itself: ``<dir>_bits_cum_per_client`` equals
``cumsum(<dir>_bytes) * 8 / N`` with N the number of ``<dir>_bytes_client*`` columns
(the ``bytes_consistent`` column says whether it does). With pandas::

    r = pd.read_csv(run_dir / "rounds.csv", dtype={c: str for c in DIGEST_COLUMNS})  # see runs.py
    row = r[r.test_accuracy >= target].iloc[0]
    cv_mb = row.ul_bits_cum_per_client / 1e6
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from resfed.atomic import atomic_write_text
from resfed.records import DIGEST_COLUMNS, digests_agree

from ._io import with_suffix
from .runs import Run, bytes_consistent, rounds_to_target, volume_to_target
from .table1 import (
    _ROLE_DIRECTION,
    _ROLE_ORDER,
    DEFAULT_ROLES,
    _cell_target,
    _matches,
    _select,
    _sort_key,
)
from .table_view import TableView

__all__ = ["AUDIT_COLUMNS", "audit", "audit_html", "audit_markdown", "write_audit"]

_PROVENANCE = ("config_hash", "git_commit", "data_checksum", "partition_hash",
               "package_version", "torch_version", "device")

AUDIT_COLUMNS = [
    "item", "cell", "dataset", "partition", "role", "method", "variant", "seed", "run_dir",
    "target", "direction", "value_mb", "rounds_to_target", "reached", "ul_mb_to_target",
    "dl_mb_to_target", "n_rounds", "final_accuracy", "sync_ok_all", "sync_failed_rounds",
    "bytes_consistent", "split_consistent", *_PROVENANCE,
]


def synchronised(rounds: pd.DataFrame) -> pd.Series:
    """Per round, whether both ends of every link recovered the same models: recomputed from
    the logged sender and receiver digests where the log has them (the logged `sync_ok`
    must agree too), else the logged `sync_ok` alone (logs written before the digests)."""
    ok = rounds["sync_ok"].astype(bool)
    if set(DIGEST_COLUMNS) <= set(rounds.columns):
        digests = rounds[list(DIGEST_COLUMNS)].fillna("").astype(str)
        ok &= pd.Series([digests_agree(row) for row in digests.to_dict("records")], index=rounds.index)
    return ok


def _none_to_nan(x: float | int | None) -> float:
    return math.nan if x is None else float(x)


def _seed_row(run: Run, target: float, split_ok: bool) -> dict[str, Any]:
    """Everything about one seed that does not depend on which item it serves."""
    r = run.rounds
    failed = r.loc[~synchronised(r), "round"].tolist()
    n_round = rounds_to_target(r, target, run.accuracy_column)
    return {
        "dataset": run.dataset,
        "partition": run.partition,
        "method": run.method,
        "variant": run.variant,
        "seed": run.seed,
        "run_dir": str(run.path),
        "target": target,
        "rounds_to_target": _none_to_nan(n_round),
        "reached": n_round is not None,
        "ul_mb_to_target": _none_to_nan(volume_to_target(r, target, "ul", run.accuracy_column)),
        "dl_mb_to_target": _none_to_nan(volume_to_target(r, target, "dl", run.accuracy_column)),
        "n_rounds": len(r),
        "final_accuracy": float(r["test_accuracy"].iloc[-1]) if len(r) else math.nan,
        "sync_ok_all": not failed,
        "sync_failed_rounds": " ".join(map(str, failed)),
        "bytes_consistent": bytes_consistent(r),
        "split_consistent": split_ok,
        **{k: run.get(k) for k in _PROVENANCE},
    }


def _split_consistent(runs: Sequence[Run]) -> dict[tuple[str, str], bool]:
    """Did every run of a (dataset, partition) train on the same data and split?"""
    out: dict[tuple[str, str], bool] = {}
    for key in {(r.dataset, r.partition) for r in runs}:
        same = [r for r in runs if (r.dataset, r.partition) == key]
        out[key] = (len({r.get("data_checksum") for r in same}) == 1
                    and len({r.get("partition_hash") for r in same}) == 1)
    return out


def audit(runs: Sequence[Run], roles: Mapping[str, str] | None = None,
          targets: Mapping[str, float] | None = None,
          figure_runs: Sequence[Run] | None = None) -> pd.DataFrame:
    """Trace every Table 1 cell (``item="table1"``) and figure series (``"figure"``).

    Table 1 rows use the same selection and target as :func:`build_table1` (same
    ``roles`` and ``targets``), and ``value_mb`` is the number that enters the cell's
    mean. Figure rows cover ``figure_runs`` (default: all ``runs``), one series per
    (dataset, partition, method, variant).
    """
    roles = dict(DEFAULT_ROLES if roles is None else roles)
    figure_runs = list(runs if figure_runs is None else figure_runs)
    split = _split_consistent(list(runs) + figure_runs)
    rows: list[dict[str, Any]] = []

    relevant = [r for r in runs if any(_matches(r, s) for s in roles.values())]
    for dataset, partition in sorted({(r.dataset, r.partition) for r in relevant},
                                     key=lambda c: _sort_key(*c)):
        in_cell = [r for r in relevant if (r.dataset, r.partition) == (dataset, partition)]
        target = _cell_target(in_cell, dataset, partition, targets)
        for role in (r for r in _ROLE_ORDER if r in roles):
            direction = _ROLE_DIRECTION[role]
            for run in _select(in_cell, roles[role], f"{dataset}/{partition}"):
                row = _seed_row(run, target, split[(dataset, partition)])
                rows.append({**row, "item": "table1", "cell": f"{dataset}/{partition}/{role}",
                             "role": role, "direction": direction,
                             "value_mb": row[f"{direction}_mb_to_target"]})

    for run in sorted(figure_runs, key=lambda r: (*_sort_key(r.dataset, r.partition),
                                                  r.method, r.variant, r.seed)):
        target = float(targets[run.dataset]) if targets and run.dataset in targets \
            else run.target
        row = _seed_row(run, target, split[(run.dataset, run.partition)])
        rows.append({**row, "item": "figure",
                     "cell": f"{run.dataset}/{run.partition}/{run.method}/{run.variant}",
                     "role": "", "direction": "", "value_mb": math.nan})
    return pd.DataFrame(rows, columns=AUDIT_COLUMNS)


def _short(x: object) -> object:
    """Hashes cut to 12 characters for the human-readable table (CSV keeps them whole)."""
    return x[:12] if isinstance(x, str) and len(x) > 12 else x


def _view(df: pd.DataFrame) -> TableView:
    """Columns, rows and the text above them (recipe, sync warning), for markdown and HTML."""
    cols = ["item", "cell", "seed", "run_dir", "target", "value_mb", "rounds_to_target",
            "ul_mb_to_target", "dl_mb_to_target", "sync_ok_all", "bytes_consistent",
            "split_consistent", "config_hash", "git_commit", "data_checksum",
            "partition_hash"]

    def fmt(col: str, v: object) -> object:
        if isinstance(v, float):
            if math.isnan(v):
                return "—"
            if col == "rounds_to_target":
                return f"{v:.0f}"
            return f"{v:.6g}"
        return _short(v) if col in _PROVENANCE else v

    rows = [[fmt(c, row[c]) for c in cols] for _, row in df.iterrows()]
    failed = df[~df["sync_ok_all"].astype(bool)]
    warning = ""
    if len(failed):
        warning = ("\n**Sync failures** (sender and receiver models differed) in: "
                   + ", ".join(sorted(set(failed["run_dir"]))) + "\n")
    recipe = (
        "Recompute a Table 1 value from `<run_dir>/rounds.csv`: take the first row with "
        "`test_accuracy >= target`, read `ul_bits_cum_per_client` there "
        "(`dl_bits_cum_per_client` for ResFed DL) and divide by 1e6 (Mb). A cell is the "
        "mean over its seeds that reached the target.\n"
    )
    return TableView("Audit: Table 1 cells and figure series", cols, rows, intro=recipe + warning)


def audit_markdown(df: pd.DataFrame) -> str:
    """The audit table as markdown, with the recomputation recipe on top."""
    return _view(df).markdown()


def audit_html(df: pd.DataFrame) -> str:
    return _view(df).html()


def write_audit(df: pd.DataFrame, out_prefix: str | os.PathLike[str]) -> list[Path]:
    """Write ``<prefix>.csv`` (all columns, full hashes), ``.md`` and ``.html``, atomically."""
    return [
        atomic_write_text(with_suffix(out_prefix, ".csv"), df.to_csv(index=False)),
        atomic_write_text(with_suffix(out_prefix, ".md"), audit_markdown(df)),
        atomic_write_text(with_suffix(out_prefix, ".html"), audit_html(df)),
    ]
