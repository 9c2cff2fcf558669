"""YAML read strictly: every problem is one line naming the file, line and column.

PyYAML's `safe_load` lets a repeated key silently replace the first, accepts keys that
are not strings (`1:`, a date), and reports syntax errors as multi-line tracebacks.
Config files are read here instead, by the CLI and by the Snakemake workflow alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_TAB_HINT = " (YAML indents with spaces, not tabs)"


class YAMLFileError(ValueError):
    """A YAML file cannot be read; the message starts with `file:line:column:` where known."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses repeated keys and keys that are not strings."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` may be overridden by the keys written beside it
            key = self.construct_object(key_node, deep=True)
            mark = key_node.start_mark
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is not a string (quote it)", mark
                )
            if key in first_seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first_seen[key].line + 1})", mark
                )
            first_seen[key] = mark
        return super().construct_mapping(node, deep=deep)


def load_yaml_file(path: str | Path) -> Any:
    """The document in `path` (None when it holds none); YAMLFileError on any problem."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise YAMLFileError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise YAMLFileError(f"{path}: byte {error.start}: not UTF-8 text") from None
    except OSError as error:
        raise YAMLFileError(f"{path}: cannot read: {error.strerror}") from None
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
        _check_acyclic(document, path)
        return document
    except RecursionError:
        raise YAMLFileError(f"{path}: nested too deeply") from None
    except yaml.MarkedYAMLError as error:
        raise YAMLFileError(_describe_marked(path, error)) from None
    except yaml.reader.ReaderError as error:
        raise YAMLFileError(
            f"{path}: character {error.position}: unacceptable character #x{error.character:04x} ({error.reason})"
        ) from None
    except yaml.YAMLError as error:
        raise YAMLFileError(f"{path}: {' '.join(str(error).split())}") from None


def _check_acyclic(value: Any, path: str | Path, ancestors: tuple[int, ...] = ()) -> None:
    """Refuse a document that contains itself (`a: &x [*x]`): nothing downstream could walk it."""
    if isinstance(value, dict | list):
        if id(value) in ancestors:
            raise YAMLFileError(f"{path}: a YAML alias refers to its own anchor")
        for item in value.values() if isinstance(value, dict) else value:
            _check_acyclic(item, path, (*ancestors, id(value)))


def _describe_marked(path: str | Path, error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    problem = error.problem or "invalid YAML"
    if error.context and error.problem_mark:
        problem = f"{problem} ({error.context})"
    if "'\\t'" in problem:
        problem += _TAB_HINT
    return f"{where}: {problem}"


def scalar_value(text: str) -> Any:
    """What `text` means as a YAML value (`0.1` -> 0.1, `null` -> None, `cpu` -> 'cpu');
    the text itself when it does not parse as one plain scalar."""
    try:
        value = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return text
    return text if isinstance(value, dict | list) else value
