"""One table, written as markdown (the .md files) and as HTML (the report) from the same cells."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._io import markdown_table
from .html import table_page

__all__ = ["TableView"]


@dataclass(frozen=True)
class TableView:
    """Title, header, display rows, the text above the table and the note under it."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[object]]
    note: str = ""
    intro: str = ""

    def markdown(self) -> str:
        intro = f"{self.intro.strip()}\n\n" if self.intro.strip() else ""
        note = f"\n{self.note.strip()}\n" if self.note.strip() else ""
        return f"# {self.title}\n\n{intro}" + markdown_table(self.header, self.rows) + note

    def html(self) -> str:
        return table_page(self.title, self.header, self.rows, note=self.note, intro=self.intro)
