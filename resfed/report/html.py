"""Self-contained HTML pages of the tables and figures, for ``snakemake --report``.

Snakemake's report shows an HTML item in a frame, but a CSV only as a download: so every
table is also written as a small page (the same cells as its markdown), and every figure
as a page holding the PNG with its caption under it, where a reader looks for it.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["embedded_pages", "figure_page", "table_page"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; white-space: nowrap; }
th { background: #eee; }
td:nth-child(-n+2), th:nth-child(-n+2) { text-align: left; }
p.note, figcaption { max-width: 60em; line-height: 1.4; }
img { max-width: 100%; }
"""


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return html.escape(str(value))


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head>\n<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n")


def _paragraph(text: str, css: str) -> str:
    return f'<p class="{css}">{html.escape(text.strip())}</p>' if text.strip() else ""


def table_page(title: str, header: Sequence[str], rows: Iterable[Sequence[object]], note: str = "",
               intro: str = "") -> str:
    """A page with one table, text above it and a note under it (all text escaped)."""
    head = "<tr>" + "".join(f"<th>{_cell(h)}</th>" for h in header) + "</tr>"
    body = "\n".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    table = f"<table>\n<thead>{head}</thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    return _page(title, "\n".join((_paragraph(intro, "note"), table, _paragraph(note, "note"))))


def figure_page(png: str | Path, title: str, caption: str) -> str:
    """A page with the PNG embedded (the page stands alone) and its caption under it."""
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    return _page(title, f'<figure>\n<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">\n'
                        f"<figcaption>{html.escape(caption.strip())}</figcaption>\n</figure>")


_EMBEDDED = re.compile(r"data:text/html;charset=utf8;filename=([^;\"]+);base64,([A-Za-z0-9+/=]+)")


def embedded_pages(report: str) -> dict[str, str]:
    """The HTML items inside a ``snakemake --report`` file, by file name, decoded.

    The report keeps every item as a base64 data URI; this reads them back so that a test
    or a check can see what a reader's browser shows, without a browser.
    """
    return {name: base64.b64decode(data).decode("utf-8") for name, data in _EMBEDDED.findall(report)}
