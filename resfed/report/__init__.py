"""Reporting: Table 1, the paper's figures and the audit trail, from per-run logs.

Typical use::

    from resfed.report import load_runs, build_table1, write_table1
    runs = load_runs("results/default/runs")
    write_table1(build_table1(runs, {"baseline": "baseline", "ul": "resfed-ul",
                                     "dl": "resfed-dl"}), "results/default/tables/table1")

The figure functions are imported lazily: they pull in seaborn and select matplotlib's
Agg backend, which tables and audits do not need.
"""

from __future__ import annotations

from typing import Any

from .audit import audit, audit_markdown, write_audit
from .runs import (
    REQUIRED_COLUMNS,
    Run,
    RunFormatError,
    bytes_consistent,
    load_run,
    load_runs,
    rounds_to_target,
    volume_to_target,
)
from .table1 import (
    DEFAULT_ROLES,
    PAPER_TABLE1,
    PaperCell,
    build_table1,
    dataset_label,
    paper_rounds,
    paper_setting,
    partition_label,
    table1_latex,
    table1_markdown,
    write_table1,
)

_FIGURES = ("plot_accuracy_vs_round", "plot_accuracy_vs_volume", "plot_sparsity_sweep",
            "rounds_long", "save_figure", "sparsity_points")

__all__ = [
    "DEFAULT_ROLES",
    "PAPER_TABLE1",
    "REQUIRED_COLUMNS",
    "PaperCell",
    "Run",
    "RunFormatError",
    "audit",
    "audit_markdown",
    "build_table1",
    "bytes_consistent",
    "load_run",
    "load_runs",
    "dataset_label",
    "paper_rounds",
    "paper_setting",
    "partition_label",
    "rounds_to_target",
    "table1_latex",
    "table1_markdown",
    "volume_to_target",
    "write_audit",
    "write_table1",
    *_FIGURES,
]


def __getattr__(name: str) -> Any:
    """Load :mod:`resfed.report.figures` on first use of a plotting function."""
    if name in _FIGURES:
        from . import figures

        return getattr(figures, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
