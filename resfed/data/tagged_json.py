"""Reading the data layer's JSON files (sidecars, partitions), which name their format in a `format` key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import DataError


def read_tagged_json(path: Path, fmt: str, error: type[DataError], hint: str) -> dict[str, Any]:
    """The object in `path` if it is JSON with `"format": fmt`; otherwise `error` naming the file and `hint`."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: no such file; {hint}") from None
    except (OSError, ValueError) as e:
        raise error(f"{path}: not a readable {fmt} file ({e}); {hint}") from e
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise error(f"{path}: not a {fmt} file; {hint}")
    return doc
