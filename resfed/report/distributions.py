"""Fig. C.2: distributions of weights, round updates ("gradients") and Res-1 residuals.

Reads the snapshots a run saved with `value_snapshots` (resfed/snapshots.py) and plots the
magnitudes |v| on a log axis, one panel per snapshot round: residuals sitting left of
updates and weights is what makes them cheaper to compress.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .figures import save_figure, sns
from .runs import Run

KINDS = ("weights", "gradients", "residuals")


def snapshot_values(runs: Sequence[Run], per_kind: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """log10 |v| of every run's snapshots (non-zero values, subsampled for plotting)."""
    rng = np.random.default_rng(seed)
    frames = []
    for run in runs:
        for path in sorted((Path(run.path) / "values").glob("round*.npz")):
            round_index = int(path.stem.removeprefix("round"))
            with np.load(path) as arrays:
                for kind in KINDS:
                    if kind not in arrays:
                        continue
                    values = np.abs(arrays[kind][arrays[kind] != 0])
                    if len(values) > per_kind:
                        values = rng.choice(values, per_kind, replace=False)
                    frames.append(pd.DataFrame({"log10_abs": np.log10(values), "kind": kind,
                                                "round": round_index, "seed": run.seed}))
    if not frames:
        raise ValueError("no value snapshots in these runs: set `value_snapshots` in the variant")
    return pd.concat(frames, ignore_index=True)


def plot_value_distributions(runs: Sequence[Run], out_prefix: str | os.PathLike[str]) -> list[Path]:
    """One panel per snapshot round, densities of log10 |v| per kind."""
    values = snapshot_values(runs)
    g = sns.displot(data=values, x="log10_abs", hue="kind", hue_order=[k for k in KINDS if k in set(values["kind"])],
                    col="round", col_wrap=3, kind="kde", common_norm=False, height=2.6, aspect=1.3,
                    facet_kws={"sharey": False})
    g.set_axis_labels("log10 |value|", "Density")
    g.set_titles("round {col_name}")
    return save_figure(g.figure, out_prefix)
