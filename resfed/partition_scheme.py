"""How a partition scheme is spelt: ``iid``, ``classes:k``, ``dirichlet:alpha``.

The one place that parses, formats and slugs a scheme; the config check, the Snakemake
paths and wildcards, the partition files and the report all import it, so that a scheme
has exactly one canonical spelling (``classes:5``) and one path spelling (``classes-5``):
``dirichlet:0.50`` and ``dirichlet-0.5`` are the same scheme in the same directory.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

ALLOWED = "iid, classes:k (or classes-k; integer k >= 1), dirichlet:alpha (or dirichlet-alpha; alpha > 0)"
# What `Scheme.slug` can produce: a Snakemake wildcard constraint for the partition directory.
SLUG_PATTERN = r"iid|classes-[0-9]+|dirichlet-[0-9.]+(e[-+][0-9]+)?"
_SCHEME_RE = re.compile(r"^(?P<kind>iid|classes|dirichlet)(?:[:-](?P<param>.+))?$")


@dataclass(frozen=True)
class Scheme:
    """A parsed partition scheme. ``param`` is k (int) or alpha (float); None for iid."""

    kind: Literal["iid", "classes", "dirichlet"]
    param: int | float | None = None

    @property
    def spec(self) -> str:
        """Canonical config spelling: ``iid``, ``classes:5``, ``dirichlet:0.5``."""
        return self.kind if self.param is None else f"{self.kind}:{_format_param(self.param)}"

    @property
    def slug(self) -> str:
        """Path spelling (no ':'): ``iid``, ``classes-5``, ``dirichlet-0.5``."""
        return self.kind if self.param is None else f"{self.kind}-{_format_param(self.param)}"

    def __str__(self) -> str:
        return self.spec


def _format_param(p: int | float) -> str:
    s = repr(p)
    return s[:-2] if isinstance(p, float) and s.endswith(".0") else s


def parse_scheme(scheme: str | Scheme) -> Scheme:
    """Parse ``iid`` / ``classes:k`` / ``dirichlet:alpha`` (``-`` works for ``:``).

    >>> parse_scheme("classes-5").spec, parse_scheme("dirichlet:0.50").slug
    ('classes:5', 'dirichlet-0.5')
    """
    if isinstance(scheme, Scheme):
        return scheme
    m = _SCHEME_RE.match(str(scheme).strip())
    if not m:
        raise ValueError(f"unknown partition scheme {scheme!r}; allowed: {ALLOWED}")
    kind, param = m["kind"], m["param"]
    if kind == "iid":
        if param is not None:
            raise ValueError(f"partition scheme {scheme!r}: iid takes no parameter; allowed: {ALLOWED}")
        return Scheme("iid")
    if param is None:
        raise ValueError(f"partition scheme {scheme!r}: {kind} needs a parameter; allowed: {ALLOWED}")
    if kind == "classes":
        if not re.fullmatch(r"[0-9]+", param):
            raise ValueError(f"partition scheme {scheme!r}: k must be a positive integer, got {param!r}")
        k = int(param)
        if k < 1:
            raise ValueError(f"partition scheme {scheme!r}: k must be >= 1, got {k}")
        return Scheme("classes", k)
    try:
        alpha = float(param)
    except ValueError:
        raise ValueError(f"partition scheme {scheme!r}: alpha must be a number, got {param!r}") from None
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"partition scheme {scheme!r}: alpha must be finite and > 0, got {param!r}")
    return Scheme("dirichlet", alpha)


def scheme_slug(scheme: str | Scheme) -> str:
    """The path spelling of a scheme (``classes:5`` -> ``classes-5``, ``dirichlet:0.50`` -> ``dirichlet-0.5``)."""
    return parse_scheme(scheme).slug
