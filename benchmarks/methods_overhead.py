"""The peer methods side by side: bytes, accuracy and codec overhead per round.

Two parts, both printed as Markdown (results: benchmarks/methods.md):

- ``--runs DIR...``: a table from finished runs (`resfed train` output): bytes per client
  and round in each direction, compression of UL+DL against the variant named
  ``baseline``, test accuracy after the last round and the best one;
- ``--time``: runs every variant of a config for ``--rounds`` rounds in this process with
  the codec functions and local training wrapped in timers. "Codec" is everything that
  turns a model into bytes and back at both ends: resfed's encode/decode, FedSZ's
  SZ3 + zstd, FedPM's mask and count coders, IGC's projections and its coordinate
  messages; "train" is the clients' local training (FedPM's score training).

    python benchmarks/methods_overhead.py --runs /tmp/cmp/runs/*
    python benchmarks/methods_overhead.py --time --config config/compare.yaml --rounds 3 \\
        --data results/default/data/fmnist.npz --partition /tmp/cmp/iid-seed0.json
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

import resfed.federation
import resfed.link
import resfed.strategy
from resfed.codec import CoordinatesCodec, CountsCodec, MaskCodec, SZCodec
from resfed.config import load_config, run_spec
from resfed.methods import fedpm, igc
from resfed.run import run_training

CODEC = [
    (resfed.link, "encode"),
    (resfed.link, "decode"),
    *((codec, verb) for codec in (SZCodec, MaskCodec, CountsCodec, CoordinatesCodec) for verb in ("encode", "decode")),
    (igc.GaussianSubspace, "project"),
    (igc.GaussianSubspace, "lift"),
    (igc.HadamardSubspace, "project"),
    (igc.HadamardSubspace, "lift"),
]
TRAIN = [(resfed.strategy, "local_train"), (resfed.federation, "train_batched"), (fedpm, "train_scores")]


@contextlib.contextmanager
def timed(targets: list[tuple[object, str]], bucket: str, seconds: dict[str, float]) -> Iterator[None]:
    """Wrap each `owner.name` so that its calls add their duration to `seconds[bucket]`."""
    originals = [(owner, name, getattr(owner, name)) for owner, name in targets]

    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[bucket] += time.perf_counter() - started

        return timed_call

    for owner, name, function in originals:
        setattr(owner, name, wrap(function))
    try:
        yield
    finally:
        for owner, name, function in originals:
            setattr(owner, name, function)


def overhead(config_path: str, rounds: int, data: str, partition: str) -> pd.DataFrame:
    config = load_config(config_path)
    rows = []
    for experiment in config["experiments"].values():
        for variant in experiment["variants"]:
            spec = run_spec(config, experiment["datasets"][0], experiment["partitions"][0], variant, 0)
            spec.update(rounds=rounds, checkpoint_every=0)
            seconds: dict[str, float] = defaultdict(float)
            with tempfile.TemporaryDirectory() as out, timed(CODEC, "codec", seconds), timed(TRAIN, "train", seconds):
                run_dir = run_training(spec, data, partition, Path(out) / "run", progress=False)
                wall = pd.read_csv(run_dir / "rounds.csv")["wall_seconds"].sum()
            rows.append({
                "variant": variant,
                "codec s/round": seconds["codec"] / rounds,
                "train s/round": seconds["train"] / rounds,
                "round s": wall / rounds,
                "codec / train": seconds["codec"] / seconds["train"],
                "codec / round": seconds["codec"] / wall,
            })
    return pd.DataFrame(rows)


def traffic(run_dirs: list[str]) -> pd.DataFrame:
    rows = []
    for run_dir in run_dirs:
        rounds = pd.read_csv(Path(run_dir) / "rounds.csv")
        clients = [c for c in rounds.columns if c.startswith("ul_bytes_client")]
        ul = rounds[clients].to_numpy()
        dl = rounds[[c.replace("ul_", "dl_") for c in clients]].to_numpy()
        rows.append({
            "variant": Path(run_dir).name,
            "rounds": len(rounds),
            "UL B/round": ul[ul > 0].mean(),
            "DL B/round": dl[dl > 0].mean(),
            "accuracy (last)": rounds["test_accuracy"].iloc[-1],
            "accuracy (best)": rounds["test_accuracy"].max(),
        })
    table = pd.DataFrame(rows)
    base = table.set_index("variant").loc["baseline", ["UL B/round", "DL B/round"]].sum()
    table["UL+DL vs baseline"] = base / (table["UL B/round"] + table["DL B/round"])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="*", default=[], help="run directories (a variant named baseline among them)")
    parser.add_argument("--time", action="store_true", help="time codec vs training for every variant of --config")
    parser.add_argument("--config", default="config/compare.yaml")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", default="results/default/data/fmnist.npz")
    parser.add_argument("--partition", help="partition file of the config's first dataset and partition")
    args = parser.parse_args()
    if args.runs:
        print(traffic(args.runs).to_markdown(index=False, floatfmt=".4g"))
    if args.time:
        print(overhead(args.config, args.rounds, args.data, args.partition).to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
