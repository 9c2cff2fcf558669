"""The figures the pipeline draws, by name: what each shows (its caption) and how to draw it.

``resfed figure --kind K`` and the config's ``figures`` list name these kinds. Each figure
is written as PNG and PDF, and as an HTML page holding the PNG with its caption, which is
what ``snakemake --report`` shows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from resfed.atomic import atomic_write_text

from ._io import with_suffix
from .html import figure_page
from .runs import Run

__all__ = ["FIGURE_CAPTIONS", "FIGURE_KINDS", "compressed_sparsity", "draw_figure"]

_BANDS = "Lines are means over seeds, bands ± one standard deviation."
_TARGET = ("The dashed line is the target accuracy; a ring marks the first round at which a "
           "method's mean curve reaches it.")

#: Kind -> caption shown under the figure in the report.
FIGURE_CAPTIONS: dict[str, str] = {
    "accuracy-round": f"Test accuracy of the global model after each round (Fig. 3). {_BANDS} {_TARGET}",
    "accuracy-volume": (
        "Test accuracy against the cumulative volume one client sent (UL) or received (DL), in Mb = "
        f"10^6 bits on a log scale (Fig. B.1); volumes are the lengths of the real messages. {_BANDS} "
        f"{_TARGET}"),
    "bytes-round": (
        "Bytes one client sends (UL) or receives (DL) in each round, log scale: what each method "
        f"costs per round and how it changes as training goes on. {_BANDS}"),
    "sparsity-ul": (
        "Accuracy against the sparsity of the compressed uplink (Fig. 4): (a) at one round, (b) "
        "within one volume per client. Points are means over seeds, bars ± one standard deviation."),
    "sparsity-dl": (
        "Accuracy against the sparsity of the compressed downlink (Fig. 4): (a) at one round, (b) "
        "within one volume per client. Points are means over seeds, bars ± one standard deviation."),
    "value-distributions": (
        "Distributions of client 0's weights, round updates and Res-1 residuals at the snapshot "
        "rounds (Fig. C.2): residuals sitting left of the updates are what makes them cheaper to code."),
}
FIGURE_KINDS: tuple[str, ...] = tuple(FIGURE_CAPTIONS)


def compressed_sparsity(run: Run, direction: str) -> float | None:
    """Sparsity of a run's codec in `direction` (None when that direction is lossless)."""
    codec = run.config.get("variant_spec", {}).get(direction)
    return None if codec is None else float(codec["sparsity"])


def _plot(kind: str, runs: Sequence[Run], out_prefix: str | os.PathLike[str], at_round: int | None,
          budget_mb: float | None, labels: Mapping[str, str] | None) -> list[Path]:
    from . import figures

    if kind.startswith("sparsity-"):
        direction = kind.removeprefix("sparsity-")
        swept = [r for r in runs if compressed_sparsity(r, direction) is not None]
        if not swept:
            raise ValueError(f"no run compresses the {direction} direction: nothing to plot for {kind}")
        return figures.plot_sparsity_sweep(swept, out_prefix, lambda r: compressed_sparsity(r, direction),
                                           at_round=at_round, budget_mb=budget_mb, direction=direction)
    if kind == "value-distributions":
        from .distributions import plot_value_distributions

        return plot_value_distributions(runs, out_prefix)
    plot = {"accuracy-round": figures.plot_accuracy_vs_round, "accuracy-volume": figures.plot_accuracy_vs_volume,
            "bytes-round": figures.plot_bytes_per_round}
    return plot[kind](runs, out_prefix, labels=labels)


def draw_figure(kind: str, runs: Sequence[Run], out_prefix: str | os.PathLike[str], *,
                at_round: int | None = None, budget_mb: float | None = None,
                labels: Mapping[str, str] | None = None) -> list[Path]:
    """``<prefix>.png``, ``.pdf`` and ``.html`` (the PNG with its caption) of one kind.

    ``labels`` maps variant names to legend names (a variant without one keeps its name).
    """
    if kind not in FIGURE_CAPTIONS:
        raise ValueError(f"unknown figure kind {kind!r}; known: {', '.join(FIGURE_KINDS)}")
    paths = _plot(kind, runs, out_prefix, at_round, budget_mb, labels)
    title = f"{Path(out_prefix).parent.name}: {kind}"
    page = atomic_write_text(with_suffix(out_prefix, ".html"), figure_page(paths[0], title, FIGURE_CAPTIONS[kind]))
    return [*paths, page]
