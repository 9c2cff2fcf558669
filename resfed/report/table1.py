"""Table 1 of the paper: communication volume (CV) to a target accuracy, and bit saving.

For each (dataset, partition) cell and each role:

- ``baseline``: UL volume of the baseline runs (FedAvg sends the same float32 model both
  ways, so UL and DL are equal; the paper reports one number);
- ``ul``: UL volume of the runs that compress only the uplink with ResFed;
- ``dl``: DL volume of the runs that compress only the downlink.

A seed's value is its cumulative bits per client at the first round whose test accuracy
reaches the target, in Mb = 10**6 bits (:func:`resfed.report.runs.volume_to_target`).
Cells show mean ± sample std (ddof=1) over the seeds that reached the target and their
number, ``(n=5)``, or ``(n=3 of 5)`` when only some did, and "not reached" when none did.
BR = 1 - mean CV_method / mean CV_baseline (ratio of the means, as the paper's "mean
values from 5 tests").
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from resfed.atomic import atomic_write_text
from resfed.partition_scheme import Scheme, parse_scheme

from ._io import with_suffix
from .table_view import TableView
from .runs import Direction, Run, rounds_to_target, volume_to_target

__all__ = [
    "DATASET_LABELS",
    "DEFAULT_ROLES",
    "PAPER_TABLE1",
    "PaperCell",
    "PAPER_PARAM_COUNTS",
    "build_table1",
    "dataset_label",
    "format_mb",
    "format_mb_spread",
    "format_rounds",
    "paper_rounds",
    "paper_setting",
    "partition_label",
    "seed_count",
    "table1_html",
    "table1_latex",
    "table1_markdown",
    "write_table1",
]

#: Role -> variant name used by the default pipeline.
DEFAULT_ROLES: dict[str, str] = {"baseline": "baseline", "ul": "resfed-ul", "dl": "resfed-dl"}

_ROLE_ORDER = ("baseline", "ul", "dl")
_ROLE_LABEL = {"baseline": "Baseline", "ul": "ResFed UL", "dl": "ResFed DL"}
_ROLE_DIRECTION: dict[str, Direction] = {"baseline": "ul", "ul": "ul", "dl": "dl"}

DATASET_LABELS: dict[str, str] = {
    "mnist": "MNIST",
    "fmnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "svhn": "SVHN",
}
_DATASET_ORDER = ("fmnist", "cifar10", "svhn", "mnist", "cifar100")


@dataclass(frozen=True)
class PaperCell:
    """The paper's Table 1 numbers for one (dataset, IID/non-IID) column.

    CVs in Mb per client; BRs as printed (fractions), kept to compare with ours rather
    than recomputed from the rounded CVs.
    """

    target: float
    baseline_mb: float
    ul_mb: float
    dl_mb: float
    ul_br: float
    dl_br: float

    def cv(self, role: str) -> float:
        return {"baseline": self.baseline_mb, "ul": self.ul_mb, "dl": self.dl_mb}[role]

    def br(self, role: str) -> float:
        return {"baseline": math.nan, "ul": self.ul_br, "dl": self.dl_br}[role]


#: The paper's Table 1, keyed by (dataset, "iid" | "non-iid"). SVHN is printed in Gb
#: there (7.15 / 10.73 Gb baseline, 0.08 / 0.17 Gb UL, 0.07 / 0.11 Gb DL), converted
#: here to Mb; the printed BRs (98.89 % = 1 - 0.08 / 7.15) confirm that all SVHN
#: numbers, ResFed ones included, are in Gb.
PAPER_TABLE1: dict[tuple[str, str], PaperCell] = {
    ("fmnist", "iid"): PaperCell(0.85, 17.73, 0.16, 0.10, 0.9910, 0.9943),
    ("fmnist", "non-iid"): PaperCell(0.85, 29.55, 0.28, 0.21, 0.9910, 0.9930),
    ("cifar10", "iid"): PaperCell(0.70, 261.16, 4.09, 1.48, 0.9843, 0.9943),
    ("cifar10", "non-iid"): PaperCell(0.70, 587.61, 6.79, 4.61, 0.9884, 0.9922),
    ("svhn", "iid"): PaperCell(0.88, 7150.0, 80.0, 70.0, 0.9889, 0.9902),
    ("svhn", "non-iid"): PaperCell(0.88, 10730.0, 170.0, 110.0, 0.9842, 0.9897),
}


#: Parameter counts of the paper's models (Table B1): LeNet-5, CNN, ResNet-18 (1-channel
#: count as printed). Used only to turn the paper's baseline CV into rounds.
PAPER_PARAM_COUNTS: dict[str, int] = {"fmnist": 61_706, "cifar10": 1_020_160,
                                      "svhn": 11_175_370}


def paper_rounds(dataset: str, baseline_mb: float) -> float:
    """Rounds the paper's baseline CV implies: CV / size of one float32 model.

    The paper does not print rounds to target, but FedAvg sends one full float32 model
    per client and round, so its baseline CVs are whole multiples of the model size
    (17.73 Mb = 9 x 1.97 Mb for LeNet-5). NaN where the model is unknown.
    """
    params = PAPER_PARAM_COUNTS.get(dataset)
    if params is None or math.isnan(baseline_mb):
        return math.nan
    return baseline_mb * 1e6 / (32 * params)


def paper_setting(partition: str) -> str | None:
    """Map our partition name to the paper's column: "iid", "non-iid" or None.

    The paper's Table 1 non-IID split is 5 of 10 classes per client, written
    ``classes:5`` in the config and ``classes-5`` in directory names.
    """
    try:
        scheme = parse_scheme(partition)
    except ValueError:
        return None
    if scheme == Scheme("iid"):
        return "iid"
    if scheme == Scheme("classes", 5):
        return "non-iid"
    return None


def partition_label(partition: str) -> str:
    """Display name: the paper's "IID" / "Non-IID", other partitions as written."""
    setting = paper_setting(partition)
    return {"iid": "IID", "non-iid": "Non-IID"}.get(setting or "", partition)


def dataset_label(dataset: str) -> str:
    """Display name of a dataset key ("fmnist" -> "Fashion-MNIST")."""
    return DATASET_LABELS.get(dataset, dataset)


def format_mb(x: float) -> str:
    """Readable Mb value: 2 decimals in the paper's range, 3 significant digits below."""
    if math.isnan(x):
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 0.1 or x == 0:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _matches(run: Run, spec: str) -> bool:
    """A role spec is a variant name, or ``method/variant`` to disambiguate."""
    if "/" in spec:
        return f"{run.method}/{run.variant}" == spec
    return run.variant == spec


def _sort_key(dataset: str, partition: str) -> tuple[int, str, int, str]:
    d = _DATASET_ORDER.index(dataset) if dataset in _DATASET_ORDER else len(_DATASET_ORDER)
    setting = paper_setting(partition)
    p = {"iid": 0, "non-iid": 1}.get(setting or "", 2)
    return (d, dataset, p, partition)


def _cell_target(runs: Sequence[Run], dataset: str, partition: str,
                 targets: Mapping[str, float] | None) -> float:
    """One target per cell: baseline and ResFed must be measured against the same one."""
    if targets and dataset in targets:
        return float(targets[dataset])
    found = sorted({r.target for r in runs})
    if len(found) != 1:
        raise ValueError(
            f"runs of {dataset}/{partition} disagree on target_accuracy {found}; "
            f"pass targets={{'{dataset}': ...}}"
        )
    return found[0]


def _select(runs: Sequence[Run], spec: str, where: str) -> list[Run]:
    chosen = [r for r in runs if _matches(r, spec)]
    seeds = [r.seed for r in chosen]
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        paths = [str(r.path) for r in chosen if r.seed in dup]
        raise ValueError(
            f"{where}: role spec {spec!r} matches several runs with seed(s) {dup}: {paths}; "
            "use 'method/variant' to pick one"
        )
    return sorted(chosen, key=lambda r: r.seed)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else math.nan
    return float(arr.mean()), std


def _ours_mb(x: float) -> str:
    """One measured value: three significant digits below 10 Mb (0.144, not 0.14)."""
    if abs(x) >= 10 or math.isnan(x):
        return format_mb(x)
    return "0" if x == 0 else f"{x:#.3g}"


def format_mb_spread(mean: float, std: float) -> str:
    """Mean ± std in Mb, a small std to its first significant decimal and the mean to the
    same place (``0.139 ± 0.008``, not ``0.14 ± 0.00829``); one seed to three digits."""
    if math.isnan(std):
        return _ours_mb(mean)
    if std == 0 or std >= 0.1 or abs(mean) >= 1000:
        return f"{format_mb(mean)} ± {format_mb(std)}"
    places = max(2, -math.floor(math.log10(std)))
    return f"{mean:.{places}f} ± {std:.{places}f}"


def format_rounds(x: float) -> str:
    """Rounds are whole numbers; a mean over seeds keeps one decimal (11, 9.8)."""
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def rounds_spread(mean: float, std: float) -> str:
    """``9.8 ± 0.8``; a single value without its spread."""
    return format_rounds(mean) if math.isnan(std) else f"{format_rounds(mean)} ± {std:.1f}"


def _text(mean: float, std: float, n_reached: int, n_seeds: int, spread=format_mb_spread) -> str:
    """A cell with its number of seeds: ``0.144 (n=1)``, ``0.19 ± 0.04 (n=4 of 5)``."""
    if n_seeds == 0:
        return "no runs"
    if n_reached == 0:
        return f"not reached {seed_count(0, n_seeds)}"
    return f"{spread(mean, std)} {seed_count(n_reached, n_seeds)}"


def seed_count(n_reached: int, n_seeds: int) -> str:
    """``(n=5)`` when every seed reached the target, else ``(n=3 of 5)``."""
    return f"(n={n_reached})" if n_reached == n_seeds else f"(n={n_reached} of {n_seeds})"


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{100 * x:.2f}%"


def build_table1(runs: Sequence[Run], roles: Mapping[str, str] | None = None,
                 targets: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Table 1 in long form: one row per (dataset, partition, role).

    Parameters
    ----------
    runs: every run to consider; those matching no role are ignored.
    roles: "baseline"/"ul"/"dl" -> variant name (or "method/variant"); missing roles
        are skipped. Defaults to :data:`DEFAULT_ROLES`.
    targets: optional dataset -> target accuracy overriding ``run.json``.

    Numeric columns: ``cv_mean_mb``, ``cv_std_mb``, ``n_seeds``, ``n_reached``,
    ``rounds_mean``, ``rounds_std``, ``br``, and the paper's ``paper_target``,
    ``paper_cv_mb``, ``paper_br`` (NaN where the paper has no such cell). Text columns
    ``cv_text``, ``br_text``, ``rounds_text`` are ready for display.
    """
    roles = dict(DEFAULT_ROLES if roles is None else roles)
    unknown = set(roles) - set(_ROLE_ORDER)
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; expected {list(_ROLE_ORDER)}")
    relevant = [r for r in runs if any(_matches(r, s) for s in roles.values())]
    cells = sorted({(r.dataset, r.partition) for r in relevant}, key=lambda c: _sort_key(*c))

    rows = []
    for dataset, partition in cells:
        in_cell = [r for r in relevant if (r.dataset, r.partition) == (dataset, partition)]
        target = _cell_target(in_cell, dataset, partition, targets)
        setting = paper_setting(partition)
        paper = PAPER_TABLE1.get((dataset, setting)) if setting else None
        baseline_mean = math.nan
        for role in _ROLE_ORDER:
            if role not in roles:
                continue
            direction = _ROLE_DIRECTION[role]
            chosen = _select(in_cell, roles[role], f"{dataset}/{partition}")
            vols = [volume_to_target(r.rounds, target, direction, r.accuracy_column) for r in chosen]
            rnds = [rounds_to_target(r.rounds, target, r.accuracy_column) for r in chosen]
            reached_vols = [v for v in vols if v is not None]
            reached_rnds = [float(n) for n in rnds if n is not None]
            cv_mean, cv_std = _mean_std(reached_vols)
            r_mean, r_std = _mean_std(reached_rnds)
            if role == "baseline":
                baseline_mean = cv_mean
                br = math.nan
            else:
                br = 1 - cv_mean / baseline_mean if baseline_mean > 0 else math.nan
            n_seeds, n_reached = len(chosen), len(reached_vols)
            rows.append({
                "dataset": dataset,
                "partition": partition,
                "setting": setting or "",
                "role": role,
                "label": _ROLE_LABEL[role],
                "variant": roles[role],
                "direction": direction,
                "target": target,
                "target_on": ",".join(sorted({r.info.get("target_on", "server") for r in chosen})),
                "n_seeds": n_seeds,
                "n_reached": n_reached,
                "seeds": " ".join(str(r.seed) for r in chosen),
                "cv_mean_mb": cv_mean,
                "cv_std_mb": cv_std,
                "rounds_mean": r_mean,
                "rounds_std": r_std,
                "br": br,
                "paper_target": paper.target if paper else math.nan,
                "paper_cv_mb": paper.cv(role) if paper else math.nan,
                "paper_br": paper.br(role) if paper else math.nan,
                "paper_rounds": (paper_rounds(dataset, paper.baseline_mb)
                                 if paper and role == "baseline" else math.nan),
                "cv_text": _text(cv_mean, cv_std, n_reached, n_seeds),
                "br_text": _pct(br),
                "rounds_text": _text(r_mean, r_std, n_reached, n_seeds, spread=rounds_spread),
            })
    return pd.DataFrame(rows, columns=_COLUMNS)


_COLUMNS = [
    "dataset", "partition", "setting", "role", "label", "variant", "direction", "target", "target_on",
    "n_seeds", "n_reached", "seeds", "cv_mean_mb", "cv_std_mb", "rounds_mean", "rounds_std",
    "br", "paper_target", "paper_cv_mb", "paper_br", "paper_rounds",
    "cv_text", "br_text", "rounds_text",
]
_TEXT_COLUMNS = ["cv_text", "br_text", "rounds_text"]


# ------------------------------------------------------------------------------ grid

def _axes(df: pd.DataFrame) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Columns (dataset, partition) in table order and rows (role, label, metric)."""
    cols = list(dict.fromkeys(zip(df["dataset"], df["partition"])))
    roles = [r for r in _ROLE_ORDER if r in set(df["role"])]
    rows: list[tuple[str, str, str]] = []
    for role in roles:
        metrics = ("CV", "Rounds") if role == "baseline" else ("CV", "BR", "Rounds")
        rows.extend((role, _ROLE_LABEL[role], m) for m in metrics)
    return cols, rows


def _lookup(df: pd.DataFrame, dataset: str, partition: str, role: str) -> pd.Series | None:
    hit = df[(df["dataset"] == dataset) & (df["partition"] == partition) & (df["role"] == role)]
    return None if hit.empty else hit.iloc[0]


def _ours_paper(row: pd.Series | None, metric: str) -> tuple[str, str]:
    if row is None:
        return "—", "—"
    if metric == "CV":
        return row["cv_text"], format_mb(row["paper_cv_mb"])
    if metric == "BR":
        return row["br_text"], _pct(row["paper_br"])
    paper = row["paper_rounds"]
    return row["rounds_text"], ("—" if math.isnan(paper) else f"{paper:.0f}")


def _targets(df: pd.DataFrame, dataset: str, partition: str) -> tuple[str, str]:
    sub = df[(df["dataset"] == dataset) & (df["partition"] == partition)]
    ours = sub["target"].iloc[0]
    paper = sub["paper_target"].iloc[0]
    return f"{100 * ours:g}%", ("—" if math.isnan(paper) else f"{100 * paper:g}%")


def _grid(df: pd.DataFrame) -> tuple[list[tuple[str, str]], list[list[str]]]:
    """The paper-shaped grid: first cells are (label, metric), then ours/paper pairs."""
    cols, rows = _axes(df)
    grid = [["Target ACC", ""] + [v for c in cols for v in _targets(df, *c)]]
    for role, label, metric in rows:
        unit = " (Mb)" if metric == "CV" else ""
        line = [label, metric + unit]
        for dataset, partition in cols:
            line.extend(_ours_paper(_lookup(df, dataset, partition, role), metric))
        grid.append(line)
    return cols, grid


def _decider(df: pd.DataFrame) -> str:
    """Which accuracy decided the target (target_on): the server's model, or the mean over
    the models the clients hold after the downlink."""
    names = {"server": "server model's test accuracy", "clients": "clients' held models' mean test accuracy"}
    used = sorted({part for value in df["target_on"] for part in str(value).split(",") if part})
    return " / ".join(names.get(u, u) for u in used) or names["server"]


def _view(df: pd.DataFrame) -> TableView:
    """Header, paper-shaped rows and the note under them, for markdown and HTML alike."""
    cols, grid = _grid(df)
    header = ["Method", "Metric"]
    for dataset, partition in cols:
        name = f"{dataset_label(dataset)} {partition_label(partition)}"
        header += [f"{name} ours", f"{name} paper"]
    roles = ", ".join(f"{r} = `{v}`" for r, v in
                      df.drop_duplicates("role")[["role", "variant"]].itertuples(index=False))
    note = (
        "CV: communication volume per client to reach the target accuracy, in Mb = 10^6 "
        "bits (baseline and ResFed UL: uplink; ResFed DL: downlink). Ours: mean ± sample "
        "std over the n seeds that reached the target (n of m when only some of m did). "
        "BR = 1 − CV_method / CV_baseline (ratio of the means). Rounds: first round whose "
        f"{_decider(df)} ≥ target; the paper's baseline rounds are implied (its CV / one "
        "float32 model of the paper's network). The paper reports SVHN in Gb; shown here "
        "in Mb. "
        f"Variants: {roles}."
    )
    return TableView("Table 1: communication volume to target accuracy", header, grid, note)


def table1_markdown(df: pd.DataFrame) -> str:
    """Table 1 laid out like the paper, with the paper's value next to ours."""
    return _view(df).markdown()


def table1_html(df: pd.DataFrame) -> str:
    """The same table as a standalone HTML page (the report shows it in place)."""
    return _view(df).html()


_LATEX_ESCAPES = {"%": r"\%", "&": r"\&", "_": r"\_", "#": r"\#", "$": r"\$",
                  "{": r"\{", "}": r"\}", "±": r"$\pm$", "—": "--", "≥": r"$\geq$",
                  "−": "-", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}"}


def _tex(s: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in s)


def table1_latex(df: pd.DataFrame) -> str:
    """Table 1 as a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    cols, grid = _grid(df)
    datasets = list(dict.fromkeys(d for d, _ in cols))
    lines = [r"\begin{tabular}{ll" + "rr" * len(cols) + "}", r"\toprule"]
    top, rules, start = [" & "], [], 3
    for d in datasets:
        width = 2 * sum(1 for dd, _ in cols if dd == d)
        top.append(rf" & \multicolumn{{{width}}}{{c}}{{{_tex(dataset_label(d))}}}")
        rules.append(rf"\cmidrule(lr){{{start}-{start + width - 1}}}")
        start += width
    lines.append("".join(top) + r" \\")
    lines.append(" ".join(rules))
    mid = [" & "] + [rf" & \multicolumn{{2}}{{c}}{{{_tex(partition_label(p))}}}"
                     for _, p in cols]
    lines.append("".join(mid) + r" \\")
    lines.append(" ".join(rf"\cmidrule(lr){{{3 + 2 * i}-{4 + 2 * i}}}" for i in range(len(cols))))
    lines.append("Method & Metric" + " & Ours & Paper" * len(cols) + r" \\")
    lines.append(r"\midrule")
    previous = None
    for line in grid:
        label = line[0] if line[0] != previous else ""
        if previous is not None and line[0] != previous:
            lines.append(r"\addlinespace")
        previous = line[0]
        lines.append(" & ".join(_tex(c) for c in [label] + line[1:]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "% Table 1: CV per client to target accuracy (Mb = 1e6 bits); generated by " \
           "resfed.report.table1\n" + "\n".join(lines) + "\n"


def write_table1(df: pd.DataFrame, out_prefix: str | os.PathLike[str]) -> list[Path]:
    """Write ``<prefix>.csv`` (numbers), ``.md``, ``.tex`` and ``.html`` (display), atomically."""
    numeric = df.drop(columns=[c for c in _TEXT_COLUMNS if c in df.columns])
    return [
        atomic_write_text(with_suffix(out_prefix, ".csv"), numeric.to_csv(index=False)),
        atomic_write_text(with_suffix(out_prefix, ".md"), table1_markdown(df)),
        atomic_write_text(with_suffix(out_prefix, ".tex"), table1_latex(df)),
        atomic_write_text(with_suffix(out_prefix, ".html"), table1_html(df)),
    ]
