"""Exceptions of the data layer.

One small hierarchy so that callers (the CLI, Snakemake rules) can catch every data
problem with ``DataError`` and still tell a missing dataset from a corrupt one.
"""

from __future__ import annotations


class DataError(Exception):
    """Base class of every error raised by :mod:`resfed.data`."""


class DataFormatError(DataError, ValueError):
    """A file does not follow its format (bad magic number, truncated, wrong shape).

    Messages name the file and, for binary formats, the byte offset of the problem.
    """


class ChecksumError(DataError, ValueError):
    """A raw file's MD5 (or a prepared file's sha256) differs from the expected one."""


class DatasetMissing(DataError, FileNotFoundError):
    """No source holds the raw files; the message says which files, where, and from where."""


class PartitionError(DataError, ValueError):
    """A partition file is unreadable, inconsistent or was edited after it was written."""
