"""The paper's figures from round logs: Fig 3, Fig B.1 and Fig 4.

All figures are drawn with seaborn and saved as PNG and PDF next to each other. Seeds of
one series are shown as mean ± one standard deviation (``errorbar="sd"``). Panels are
faceted by dataset (rows) and partition (columns) when the runs span several cells.

Titles use display names (Fashion-MNIST, IID, Non-IID for ``classes-5``).

The Agg backend is selected on import unless pyplot is already loaded, because the
pipeline draws on headless cluster nodes; an interactive session that imported pyplot
first keeps its backend.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogFormatter, MaxNLocator  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from resfed.atomic import atomic_open  # noqa: E402

from ._io import with_suffix  # noqa: E402
from .runs import Run  # noqa: E402
from .table1 import dataset_label, partition_label  # noqa: E402

__all__ = [
    "first_crossings",
    "plot_accuracy_vs_round",
    "plot_bytes_per_round",
    "plot_accuracy_vs_volume",
    "plot_sparsity_sweep",
    "rounds_long",
    "save_figure",
    "sparsity_points",
]

_ID_COLUMNS = ("dataset", "partition", "method", "variant", "seed")
_Y_LABELS = {
    "test_accuracy": "Test accuracy (%)",
    "test_loss": "Test loss",
    "train_loss": "Training loss",
}


def rounds_long(runs: Sequence[Run], labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """All runs' round logs stacked, with the run identity, directory and target as columns.

    ``label`` is the legend name of the run's variant: ``labels[variant]``, else the variant.
    """
    if not runs:
        raise ValueError("no runs to plot")
    labels = labels or {}
    frames = []
    for r in runs:
        f = r.rounds.copy()
        for key in _ID_COLUMNS:
            f[key] = getattr(r, key)
        f["run_dir"] = str(r.path)
        f["label"] = labels.get(r.variant, r.variant)
        f["target_pct"] = 100 * r.target
        frames.append(f)
    df = pd.concat(frames, ignore_index=True)
    df["test_accuracy_pct"] = 100 * df["test_accuracy"]
    return df


_METADATA = {"png": {}, "pdf": {"CreationDate": None}}


def save_figure(fig: plt.Figure, out_prefix: str | os.PathLike[str],
                dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``<prefix>.png`` and ``<prefix>.pdf`` atomically, then close it.

    The PDF carries no creation date, so the same logs give the same bytes.
    """
    paths = []
    try:
        for fmt in ("png", "pdf"):
            path = with_suffix(out_prefix, f".{fmt}")
            with atomic_open(path) as fh:
                fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_METADATA[fmt])
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def _add_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Display columns: "Fashion-MNIST", "IID" and the pair, for facet titles."""
    df["dataset_label"] = df["dataset"].map(dataset_label)
    df["partition_label"] = df["partition"].map(partition_label)
    df["cell"] = df["dataset_label"] + " / " + df["partition_label"]
    return df


def _facets(df: pd.DataFrame) -> dict[str, Any]:
    """Facet only when the runs span several (dataset, partition) cells.

    A full grid is laid out like the paper (rows = datasets, columns = partitions); an
    incomplete one becomes wrapped panels, one per cell, rather than empty axes.
    """
    n_d, n_p = df["dataset"].nunique(), df["partition"].nunique()
    n_cells = df[["dataset", "partition"]].drop_duplicates().shape[0]
    if n_cells == 1:
        return {}
    if n_cells == n_d * n_p and n_d > 1 and n_p > 1:
        return {"row": "dataset_label", "col": "partition_label"}
    return {"col": "cell", "col_wrap": min(3, n_cells)}


def _y(y: str) -> tuple[str, str]:
    """Column to plot and axis label; accuracy is shown in percent."""
    if y == "test_accuracy":
        return "test_accuracy_pct", _Y_LABELS[y]
    return y, _Y_LABELS.get(y, y)


def _finish(g: sns.FacetGrid, df: pd.DataFrame, faceted: bool) -> None:
    """Plain facet titles, and the cell as a title when no facet names it."""
    g.set_titles(row_template="{row_name}", col_template="{col_name}")
    if g.legend is not None and g.legend.get_title().get_text() == "label":  # the default hue
        g.legend.set_title("Method")
    if not faceted:
        g.figure.suptitle(df["cell"].iloc[0], y=1.02)


class _PlainLogFormatter(LogFormatter):
    """Log ticks written as plain numbers (0.01, 2, 300) rather than 2x10^0 or 1e-02.

    The parent decides which ticks get a label (minor ones only on short ranges); this
    only changes how the chosen ones are written.
    """

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"{x:g}" if super().__call__(x, pos) else ""


def _plain_log_ticks(g: sns.FacetGrid) -> None:
    """Log x axes whose tick labels read directly as Mb."""
    for ax in g.axes.flat:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(_PlainLogFormatter())
        ax.xaxis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False,
                                                        minor_thresholds=(1, 0.5)))


def _palette(df: pd.DataFrame, hue: str) -> dict[str, Any]:
    """One colour per series, fixed here so that the target markers can use it too."""
    names = list(dict.fromkeys(df[hue]))
    return dict(zip(names, sns.color_palette(n_colors=len(names))))


def first_crossings(df: pd.DataFrame, x: str, hue: str = "label") -> pd.DataFrame:
    """Per series: the first round where the mean accuracy over seeds reaches the target.

    Returns one row per series that reaches it, with ``x`` (that round's mean ``x``) and the
    mean accuracy there, in percent.
    """
    rows = []
    for name, series in df.groupby(hue, sort=False):
        mean = series.groupby("round")[[x, "test_accuracy_pct", "target_pct"]].mean()
        reached = mean[mean["test_accuracy_pct"] >= mean["target_pct"] - 1e-9]
        if len(reached):
            first = reached.iloc[0]
            rows.append({hue: name, "round": int(reached.index[0]), x: first[x],
                         "test_accuracy_pct": first["test_accuracy_pct"]})
    return pd.DataFrame(rows, columns=[hue, "round", x, "test_accuracy_pct"])


def _target_marks(x: str, hue: str, palette: Mapping[str, Any]) -> Callable[..., None]:
    """A FacetGrid.map_dataframe function: dashed target line, a marker at each first crossing."""

    def draw(data: pd.DataFrame, **_: Any) -> None:
        ax = plt.gca()
        for target in sorted(set(data["target_pct"])):
            ax.axhline(target, color="0.35", linestyle="--", linewidth=0.9, zorder=1)
        for row in first_crossings(data, x, hue).itertuples(index=False):
            ax.plot(getattr(row, x), row.test_accuracy_pct, marker="o", markersize=7,
                    markerfacecolor="none", markeredgewidth=1.5, color=palette[getattr(row, hue)],
                    linestyle="none", zorder=3)

    return draw


def plot_accuracy_vs_round(runs: Sequence[Run], out_prefix: str | os.PathLike[str],
                           hue: str = "label", y: str = "test_accuracy",
                           labels: Mapping[str, str] | None = None) -> list[Path]:
    """Fig 3 style: test accuracy per round, one line per ``hue`` with a ±1 sd seed band;
    a dashed line at the target and a ring where each mean curve first reaches it."""
    df = _add_labels(rounds_long(runs, labels))
    ycol, ylabel = _y(y)
    facets = _facets(df)
    palette = _palette(df, hue)
    g = sns.relplot(data=df, x="round", y=ycol, hue=hue, palette=palette, kind="line", errorbar="sd",
                    height=3.2, aspect=1.3, facet_kws={"sharey": False}, **facets)
    if ycol == "test_accuracy_pct":
        g.map_dataframe(_target_marks("round", hue, palette))
    g.set_axis_labels("Communication round", ylabel)
    for ax in g.axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _finish(g, df, bool(facets))
    return save_figure(g.figure, out_prefix)


def plot_bytes_per_round(runs: Sequence[Run], out_prefix: str | os.PathLike[str],
                         hue: str = "label", labels: Mapping[str, str] | None = None) -> list[Path]:
    """Bytes one client sends (UL) or receives (DL) in each round, a panel per direction, log y.

    Taken from the cumulative bits per client, so it is the mean over clients; seeds give
    the band. Rounds in which a direction sent nothing have no place on the log axis.
    """
    df = _add_labels(rounds_long(runs, labels))
    parts = []
    for direction, label in (("ul", "Uplink (UL)"), ("dl", "Downlink (DL)")):
        f = df.copy()
        f["direction"] = label
        f["bytes"] = f.groupby("run_dir")[f"{direction}_bits_cum_per_client"].diff().fillna(
            f[f"{direction}_bits_cum_per_client"]) / 8
        parts.append(f)
    long = pd.concat(parts, ignore_index=True)
    long = long[long["bytes"] > 0]
    several = long["cell"].nunique() > 1
    g = sns.relplot(data=long, x="round", y="bytes", hue=hue, col="direction", row="cell" if several else None,
                    kind="line", errorbar="sd", height=3.2, aspect=1.3,
                    facet_kws={"sharey": False}, palette=_palette(long, hue))
    for ax in g.axes.flat:
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    g.set_axis_labels("Communication round", "Bytes per client and round (log scale)")
    _finish(g, long, several)
    return save_figure(g.figure, out_prefix)


def _volume_long(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, round, direction) with x = mean cumulative Mb over the seeds.

    Seeds of one series send slightly different byte counts, so their curves do not
    share x values and seaborn could not aggregate them. Each round's x is therefore
    the mean over seeds of that round's cumulative volume, and the band is the spread
    of the accuracy at that round.
    """
    series = ["dataset", "partition", "method", "variant"]
    parts = []
    for direction, label in (("ul", "Uplink (UL)"), ("dl", "Downlink (DL)")):
        f = df.copy()
        f["direction"] = label
        f["volume_mb"] = f[f"{direction}_bits_cum_per_client"] / 1e6
        f["volume_mb"] = f.groupby(series + ["round"])["volume_mb"].transform("mean")
        parts.append(f)
    out = pd.concat(parts, ignore_index=True)
    # Log axis: a direction that sent nothing yet (e.g. a seeded initial model) has no
    # position on it; those rounds are dropped from that panel only.
    return out[out["volume_mb"] > 0]


def plot_accuracy_vs_volume(runs: Sequence[Run], out_prefix: str | os.PathLike[str],
                            hue: str = "label", y: str = "test_accuracy",
                            labels: Mapping[str, str] | None = None) -> list[Path]:
    """Fig B.1 style: accuracy vs cumulative Mb per client, UL and DL panels, log x; the
    target line and first crossings as in :func:`plot_accuracy_vs_round`."""
    df = _volume_long(_add_labels(rounds_long(runs, labels)))
    ycol, ylabel = _y(y)
    several = df["cell"].nunique() > 1
    palette = _palette(df, hue)
    g = sns.relplot(data=df, x="volume_mb", y=ycol, hue=hue, palette=palette, col="direction",
                    row="cell" if several else None, kind="line", errorbar="sd",
                    height=3.2, aspect=1.3, facet_kws={"sharex": False, "sharey": False})
    if ycol == "test_accuracy_pct":
        g.map_dataframe(_target_marks("volume_mb", hue, palette))
    _plain_log_ticks(g)
    g.set_axis_labels("Cumulative volume per client (Mb, log scale)", ylabel)
    _finish(g, df, several)
    return save_figure(g.figure, out_prefix)


def _volume_mb(rounds: pd.DataFrame, direction: str) -> pd.Series:
    if direction == "total":
        return (rounds["ul_bits_cum_per_client"] + rounds["dl_bits_cum_per_client"]) / 1e6
    if direction in ("ul", "dl"):
        return rounds[f"{direction}_bits_cum_per_client"] / 1e6
    raise ValueError(f"direction must be 'ul', 'dl' or 'total', got {direction!r}")


def sparsity_points(runs: Sequence[Run], sparsity_of: Callable[[Run], float],
                    at_round: int | None = None, budget_mb: float | None = None,
                    direction: str = "total") -> tuple[pd.DataFrame, int, float]:
    """Per-run accuracy at ``at_round`` and within ``budget_mb``; also the chosen values.

    Defaults: ``at_round`` = the last round every run completed; ``budget_mb`` = the
    smallest final cumulative volume among the runs (every run spent at least that much,
    so none is cut short by having stopped early). Accuracy within budget is the test
    accuracy of the last round whose cumulative volume is <= the budget; NaN (no point)
    when even the first round costs more.
    """
    if not runs:
        raise ValueError("no runs to plot")
    if at_round is None:
        at_round = min(int(r.rounds["round"].max()) for r in runs)
    if budget_mb is None:
        budget_mb = min(float(_volume_mb(r.rounds, direction).iloc[-1]) for r in runs)
    rows = []
    for r in runs:
        vol = _volume_mb(r.rounds, direction)
        at = r.rounds.loc[r.rounds["round"] == at_round, "test_accuracy"]
        affordable = r.rounds.loc[vol <= budget_mb * (1 + 1e-12), "test_accuracy"]
        rows.append({
            **{k: getattr(r, k) for k in _ID_COLUMNS},
            "sparsity": float(sparsity_of(r)),
            "acc_at_round": 100 * float(at.iloc[0]) if len(at) else math.nan,
            "acc_at_budget": 100 * float(affordable.iloc[-1]) if len(affordable) else math.nan,
        })
    return pd.DataFrame(rows), at_round, budget_mb


def _mark_missing(g: sns.FacetGrid, long: pd.DataFrame, order: list[str],
                  several: bool) -> None:
    """Write "over budget" where no run of a sparsity has a value, so a gap is explained."""
    for key, ax in g.axes_dict.items():
        cell, panel = key if several else (None, key)
        sub = long[(long["panel"] == panel) & ((long["cell"] == cell) if several else True)]
        for i, label in enumerate(order):
            values = sub.loc[sub["sparsity_label"] == label, "acc"]
            if len(values) and values.isna().all():
                ax.text(i, 0.02, "over budget" if panel.startswith("(b)") else "n/a",
                        transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                        fontsize="small", color="0.4")


def plot_sparsity_sweep(runs: Sequence[Run], out_prefix: str | os.PathLike[str],
                        sparsity_of: Callable[[Run], float], at_round: int | None = None,
                        budget_mb: float | None = None, direction: str = "total",
                        hue: str | None = None) -> list[Path]:
    """Fig 4 style: accuracy vs sparsity (a) at a fixed round, (b) at an equal bit budget.

    ``sparsity_of(run)`` returns the run's sparsity as a fraction (0.99 = 99 %); it is
    a callable so that the report does not depend on how the config spells it.
    ``direction`` picks the budget: "ul", "dl" or "total" (UL + DL). See
    :func:`sparsity_points` for the defaults.
    """
    points, at_round, budget_mb = sparsity_points(runs, sparsity_of, at_round, budget_mb,
                                                  direction)
    points["sparsity_label"] = points["sparsity"].map(lambda s: f"{100 * s:g}")
    order = [f"{100 * s:g}" for s in sorted(points["sparsity"].unique())]
    long = points.melt(
        id_vars=[*_ID_COLUMNS, "sparsity", "sparsity_label"],
        value_vars=["acc_at_round", "acc_at_budget"], var_name="panel", value_name="acc",
    )
    budget_name = {"ul": "UL", "dl": "DL", "total": "UL+DL"}[direction]
    long["panel"] = long["panel"].map({
        "acc_at_round": f"(a) at round {at_round}",
        "acc_at_budget": f"(b) within {budget_mb:.3g} Mb {budget_name} per client",
    })
    long = _add_labels(long)
    several = long["cell"].nunique() > 1
    g = sns.catplot(data=long, x="sparsity_label", y="acc", hue=hue, col="panel",
                    row="cell" if several else None, kind="point", errorbar="sd",
                    order=order, height=3.2, aspect=1.2, sharey=False, capsize=0.1)
    g.set_axis_labels("Sparsity (%)", "Test accuracy (%)")
    _mark_missing(g, long, order, several)
    _finish(g, long, several)
    return save_figure(g.figure, out_prefix)
