"""Load finished runs and compute what Table 1 is made of.

A run is one directory ``<results>/runs/<dataset>/<partition>/<method>/<variant>/<run key>/seed<k>/``
holding ``run.json`` (identity, target, provenance) and ``rounds.csv`` (one row per
round, bytes actually sent, cumulative bits per client, accuracy). Everything in the
report is computed from these two files only, so a reviewer can redo any number by hand.

Volumes are in Mb = 10**6 bits *per client* (cumulative over rounds, averaged over the N
clients), which is the unit of the paper's Table 1.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from resfed.records import DIGEST_COLUMNS, ROUND_COLUMNS

__all__ = [
    "REQUIRED_COLUMNS",
    "Direction",
    "Run",
    "RunFormatError",
    "bytes_consistent",
    "load_run",
    "load_runs",
    "rounds_to_target",
    "volume_to_target",
]

Direction = Literal["ul", "dl"]

#: Columns every ``rounds.csv`` must have (the round log's own list); per-client byte
#: columns are optional.
REQUIRED_COLUMNS: tuple[str, ...] = ROUND_COLUMNS
_NUMERIC_COLUMNS = tuple(c for c in REQUIRED_COLUMNS if c != "sync_ok")
_RUN_KEYS = ("dataset", "partition", "method", "variant", "seed")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class RunFormatError(ValueError):
    """A run directory whose files do not have the expected content (names the file)."""


@dataclass(frozen=True)
class Run:
    """One training run: its ``run.json`` and its per-round log.

    Kept as the raw dict plus a DataFrame rather than a parsed schema, so that new keys
    written by the training code reach the audit table without changes here.
    """

    path: Path
    info: dict[str, Any] = field(repr=False)
    rounds: pd.DataFrame = field(repr=False)

    @property
    def dataset(self) -> str:
        return str(self.info["run"]["dataset"])

    @property
    def partition(self) -> str:
        return str(self.info["run"]["partition"])

    @property
    def method(self) -> str:
        return str(self.info["run"]["method"])

    @property
    def variant(self) -> str:
        return str(self.info["run"]["variant"])

    @property
    def seed(self) -> int:
        return int(self.info["run"]["seed"])

    @property
    def target(self) -> float:
        """Target test accuracy (0..1) the run was configured with."""
        return float(self.info["target_accuracy"])

    @property
    def accuracy_column(self) -> str:
        """The rounds.csv column that decides the target (run.json's ``target_on``)."""
        return "client_accuracy_mean" if self.info.get("target_on") == "clients" else "test_accuracy"

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.info.get("config") or {})

    def get(self, key: str, default: Any = None) -> Any:
        """A top-level ``run.json`` entry (``config_hash``, ``git_commit``, ...)."""
        return self.info.get(key, default)


def _parse_bool(series: pd.Series, path: Path) -> pd.Series:
    """``sync_ok`` as bool whether pandas read it as bool, 0/1 or text."""
    if series.dtype == bool:
        return series
    out = []
    for i, v in enumerate(series.tolist()):
        if isinstance(v, bool):
            out.append(v)
            continue
        text = str(v).strip().lower()
        if text in _TRUE:
            out.append(True)
        elif text in _FALSE:
            out.append(False)
        else:
            raise RunFormatError(f"{path}: column 'sync_ok' row {i + 1}: not a boolean: {v!r}")
    return pd.Series(out, index=series.index, dtype=bool, name=series.name)


def _read_rounds(path: Path) -> pd.DataFrame:
    """Read and validate ``rounds.csv``: required columns, numeric types, unique rounds."""
    if not path.is_file():
        raise RunFormatError(f"{path}: file not found")
    try:
        # digests as text: pandas < 3 parses one like "137e7262668..." as a float with a huge
        # exponent and crashes the process (pandas-dev/pandas#62617)
        df = pd.read_csv(path, dtype=dict.fromkeys(DIGEST_COLUMNS, str))
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise RunFormatError(f"{path}: cannot parse CSV: {exc}") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise RunFormatError(
            f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}"
            f" (has: {', '.join(map(str, df.columns))})"
        )
    for col in _NUMERIC_COLUMNS:
        try:
            df[col] = pd.to_numeric(df[col])
        except (ValueError, TypeError) as exc:
            raise RunFormatError(f"{path}: column {col!r} is not numeric: {exc}") from exc
    df["sync_ok"] = _parse_bool(df["sync_ok"], path)
    if df["round"].isna().any():
        raise RunFormatError(f"{path}: column 'round' has empty values")
    df["round"] = df["round"].astype(int)
    dup = df["round"][df["round"].duplicated()].tolist()
    if dup:
        raise RunFormatError(f"{path}: duplicate round(s) {dup[:5]} (a resumed run logged twice?)")
    return df.sort_values("round", ignore_index=True)


def _read_info(path: Path) -> dict[str, Any]:
    """Read ``run.json`` and check the keys the report relies on."""
    if not path.is_file():
        raise RunFormatError(f"{path}: file not found")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunFormatError(f"{path}: invalid JSON: {exc}") from exc
    run = info.get("run")
    if not isinstance(run, dict):
        raise RunFormatError(f"{path}: missing key 'run'")
    missing = [f"run.{k}" for k in _RUN_KEYS if k not in run]
    if "target_accuracy" not in info:
        missing.append("target_accuracy")
    if missing:
        raise RunFormatError(f"{path}: missing key(s) {', '.join(missing)}")
    return info


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Load one run directory (``run.json`` + ``rounds.csv``), validated.

    Raises :class:`RunFormatError` naming the offending file and column/key.
    """
    run_dir = Path(run_dir)
    info = _read_info(run_dir / "run.json")
    rounds = _read_rounds(run_dir / "rounds.csv")
    return Run(path=run_dir, info=info, rounds=rounds)


def load_runs(root: str | os.PathLike[str]) -> list[Run]:
    """Every run under ``root`` (any directory holding a ``run.json``), in path order."""
    root = Path(root)
    return [load_run(p.parent) for p in sorted(root.rglob("run.json"))]


def _check_direction(direction: str) -> None:
    if direction not in ("ul", "dl"):
        raise ValueError(f"direction must be 'ul' or 'dl', got {direction!r}")


def _first_reaching_row(rounds: pd.DataFrame, target: float, column: str) -> int | None:
    """Positional index of the first round with ``column >= target``, or None.

    Rounds without an evaluation (NaN accuracy) never count as reaching the target.
    """
    if column not in rounds.columns:
        raise RunFormatError(f"rounds.csv has no column {column!r} (run.json's target_on asks for it)")
    reached = (rounds[column] >= target).to_numpy()
    if not reached.any():
        return None
    return int(reached.argmax())


def rounds_to_target(rounds: pd.DataFrame, target: float, column: str = "test_accuracy") -> int | None:
    """The first round (1-based ``round`` value) whose accuracy (``column``: the server's
    test accuracy, or the clients' mean) is >= ``target``.

    ``None`` when the run never reaches it. ``rounds`` must be sorted by round, as
    :func:`load_run` returns it.
    """
    i = _first_reaching_row(rounds, target, column)
    return None if i is None else int(rounds["round"].iloc[i])


def volume_to_target(
    rounds: pd.DataFrame, target: float, direction: Direction, column: str = "test_accuracy"
) -> float | None:
    """Bits per client sent in ``direction`` up to and including the target round, in Mb.

    This is the Table 1 cell for one seed: ``<dir>_bits_cum_per_client`` at the first
    round with ``column >= target``, divided by 10**6. ``None`` if never reached.
    """
    _check_direction(direction)
    i = _first_reaching_row(rounds, target, column)
    if i is None:
        return None
    return float(rounds[f"{direction}_bits_cum_per_client"].iloc[i]) / 1e6


def bytes_consistent(rounds: pd.DataFrame, rel_tol: float = 1e-9) -> bool | None:
    """Do the logged totals agree with the per-client byte columns?

    Checks, per direction, ``<dir>_bytes == sum of <dir>_bytes_client*`` and
    ``<dir>_bits_cum_per_client == cumsum(<dir>_bytes) * 8 / N`` with N the number of
    per-client columns. ``None`` when the log has no per-client columns (cannot check).
    This lets an auditor trust the cumulative column that Table 1 reads.
    """
    ok = True
    for d in ("ul", "dl"):
        cols = [c for c in rounds.columns if c.startswith(f"{d}_bytes_client")]
        if not cols:
            return None
        per_client = rounds[cols].sum(axis=1).to_numpy(dtype=float)
        total = rounds[f"{d}_bytes"].to_numpy(dtype=float)
        cum = rounds[f"{d}_bits_cum_per_client"].to_numpy(dtype=float)
        expected_cum = total.cumsum() * 8 / len(cols)
        for a, b in zip(per_client, total):
            ok &= math.isclose(a, b, rel_tol=rel_tol, abs_tol=0.5)
        for a, b in zip(cum, expected_cum):
            ok &= math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-6)
    return bool(ok)
