"""Small formatting helpers shared by the report modules (files are written with resfed.atomic)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["markdown_table", "with_suffix"]


def with_suffix(out_prefix: str | os.PathLike[str], suffix: str) -> Path:
    """``out_prefix`` plus ``suffix``, appended (not replaced: ``table1.v2`` stays)."""
    prefix = Path(out_prefix)
    return prefix.with_name(prefix.name + suffix)


def _cell(value: object) -> str:
    """Render one markdown cell; missing values become an em dash, pipes are escaped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table (no ``tabulate`` dependency needed)."""
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
