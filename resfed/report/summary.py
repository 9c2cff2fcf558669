"""Per-method summary of an experiment: what a reader compares methods by, at a glance.

Per (dataset, partition, variant), over seeds: bytes per client and round in each
direction, the compression ratio against the baseline variant (UL + DL bytes per round),
accuracy after the last round all seeds completed, rounds and volume to the target (mean
± sample std over the seeds that reached it), how many times less volume to the target
than the baseline each direction needs, and wall seconds per round (training, coding and
evaluation together) relative to the baseline's, as the compute overhead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from resfed.atomic import atomic_write_text

from ._io import with_suffix
from .runs import Run, rounds_to_target, volume_to_target
from .table1 import format_mb_spread, rounds_spread, seed_count
from .table_view import TableView


def _per_run(run: Run) -> dict[str, object]:
    rounds = run.rounds
    n_clients = int(run.get("n_clients") or 1)
    reached = rounds_to_target(rounds, run.target, run.accuracy_column)
    return {
        "dataset": run.dataset,
        "partition": run.partition,
        "variant": run.variant,
        "method": run.method,
        "seed": run.seed,
        "ul_bytes_per_round": rounds["ul_bytes"].mean() / n_clients,
        "dl_bytes_per_round": rounds["dl_bytes"].mean() / n_clients,
        "final_round": int(rounds["round"].max()),
        "final_accuracy": float(rounds["test_accuracy"].iloc[-1]),
        "rounds_to_target": reached,
        "ul_mb_to_target": volume_to_target(rounds, run.target, "ul", run.accuracy_column),
        "dl_mb_to_target": volume_to_target(rounds, run.target, "dl", run.accuracy_column),
        "seconds_per_round": rounds["wall_seconds"].mean(),
    }


def build_summary(runs: Sequence[Run], baseline: str, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (dataset, partition, variant), means over seeds, ratios against `baseline`;
    `labels` names variants for readers (a variant without one shows its name)."""
    if not runs:
        raise ValueError("no runs to summarise")
    per_run = pd.DataFrame([_per_run(r) for r in runs])
    keys = ["dataset", "partition", "variant", "method"]
    table = per_run.groupby(keys, sort=False).agg(
        seeds=("seed", "count"),
        reached=("rounds_to_target", "count"),
        ul_bytes_per_round=("ul_bytes_per_round", "mean"),
        dl_bytes_per_round=("dl_bytes_per_round", "mean"),
        final_round=("final_round", "min"),
        final_accuracy=("final_accuracy", "mean"),
        rounds_to_target=("rounds_to_target", "mean"),
        rounds_to_target_std=("rounds_to_target", "std"),
        ul_mb_to_target=("ul_mb_to_target", "mean"),
        ul_mb_to_target_std=("ul_mb_to_target", "std"),
        dl_mb_to_target=("dl_mb_to_target", "mean"),
        dl_mb_to_target_std=("dl_mb_to_target", "std"),
        seconds_per_round=("seconds_per_round", "mean"),
    ).reset_index()
    table.insert(3, "label", [(labels or {}).get(variant, variant) for variant in table["variant"]])
    base = table[table["variant"] == baseline].set_index(["dataset", "partition"])
    if base.empty:
        raise ValueError(f"baseline variant {baseline!r} has no runs among {sorted(table['variant'].unique())}")
    cell = pd.MultiIndex.from_frame(table[["dataset", "partition"]])
    base_bytes = (base["ul_bytes_per_round"] + base["dl_bytes_per_round"]).reindex(cell).to_numpy()
    table["ratio_vs_baseline"] = base_bytes / (table["ul_bytes_per_round"] + table["dl_bytes_per_round"])
    for direction in ("ul", "dl"):
        volume = f"{direction}_mb_to_target"
        table[f"{direction}_volume_vs_baseline"] = base[volume].reindex(cell).to_numpy() / table[volume]
    table["time_vs_baseline"] = table["seconds_per_round"] / base["seconds_per_round"].reindex(cell).to_numpy()
    return table


def _volume(mean: float, std: float, times_less: float) -> str:
    """``0.144 ± 0.008 (2.10x less)`` against the baseline; ``—`` when no seed reached the target."""
    if pd.isna(mean):
        return "—"
    ratio = "" if pd.isna(times_less) else f" ({times_less:.2f}x less)"
    return format_mb_spread(mean, std) + ratio


def _view(table: pd.DataFrame) -> TableView:
    """Header, rows and the note under them, for markdown and HTML alike."""
    header = ["dataset", "partition", "variant", "UL B/round", "DL B/round", "ratio vs baseline",
              "accuracy (last round)", "rounds to target", "UL Mb to target", "DL Mb to target",
              "s/round", "time vs baseline"]
    rows = [
        [r.dataset, r.partition, r.label, f"{r.ul_bytes_per_round:,.0f}", f"{r.dl_bytes_per_round:,.0f}",
         f"{r.ratio_vs_baseline:.1f}x", f"{100 * r.final_accuracy:.2f} % (round {r.final_round})",
         ("not reached" if pd.isna(r.rounds_to_target) else rounds_spread(r.rounds_to_target, r.rounds_to_target_std))
         + f" {seed_count(r.reached, r.seeds)}",
         _volume(r.ul_mb_to_target, r.ul_mb_to_target_std, r.ul_volume_vs_baseline),
         _volume(r.dl_mb_to_target, r.dl_mb_to_target_std, r.dl_volume_vs_baseline),
         f"{r.seconds_per_round:.2f}", f"{r.time_vs_baseline:.2f}x"]
        for r in table.itertuples()
    ]
    note = ("Bytes per client and round (mean over rounds and seeds); ratio = baseline's UL+DL bytes "
            "per round / the method's; rounds and volumes to target: mean ± sample std over the seeds "
            "that reached it, volumes in Mb = 10^6 bits per client, (x less) = the baseline's mean "
            "volume / the method's; time = wall seconds per round (training, coding, evaluation) "
            "against the baseline's.")
    return TableView("Methods at a glance", header, rows, note)


def summary_markdown(table: pd.DataFrame) -> str:
    return _view(table).markdown()


def summary_html(table: pd.DataFrame) -> str:
    return _view(table).html()


def write_summary(table: pd.DataFrame, out_prefix: str | os.PathLike[str]) -> list[Path]:
    """`<prefix>.csv`, `<prefix>.md` and `<prefix>.html`, written atomically."""
    return [
        atomic_write_text(with_suffix(out_prefix, ".csv"), table.to_csv(index=False)),
        atomic_write_text(with_suffix(out_prefix, ".md"), summary_markdown(table)),
        atomic_write_text(with_suffix(out_prefix, ".html"), summary_html(table)),
    ]
