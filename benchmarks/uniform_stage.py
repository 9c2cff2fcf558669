"""Bytes vs residual error of the uplink stages on residuals of a real ResFed run.

Codes every residual saved by link_residuals.py (what a run's uplink senders coded) with
every stage (or those whose label matches ``--stages``): mean message bytes, mean relative
squared error sum((r_hat - r)^2) / sum(r^2) over the float tensors, and mean encode time
(wall clock, single-threaded; compare stages within one run). Usage:

  PYTHONPATH=$PWD python benchmarks/link_residuals.py RUN_JSON DATA PARTITION res.pt
  PYTHONPATH=$PWD python benchmarks/uniform_stage.py res.pt [--every 5] [--stages REGEX]
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np
import torch

from resfed.codec import CodecConfig, DeepCodec, MessageCodec, MessageContext, UniformCodec, layout_of

STAGES: list[tuple[str, MessageCodec]] = [
    ("top-k 99 % + 1 bit per tensor (paper)", DeepCodec(CodecConfig())),
    ("top-k 90 % + 1 bit per tensor", DeepCodec(CodecConfig(sparsity=0.9))),
    ("top-k 99 % + 1 bit global", DeepCodec(CodecConfig(scope="global"))),
    ("top-k 97 % + 1 bit global", DeepCodec(CodecConfig(sparsity=0.97, scope="global"))),
    *[(f"uniform {b} bit/entry, step per tensor", UniformCodec(b, scope="tensor")) for b in (0.05, 0.1)],
    *[(f"uniform {b} bit/entry", UniformCodec(b)) for b in (0.025, 0.05, 0.1, 0.2, 0.5, 1.0)],
    *[
        (f"uniform {b} bit/entry, rate-distortion levels", UniformCodec(b, rate_distortion=True))
        for b in (0.025, 0.05, 0.1, 0.2, 0.5, 1.0)
    ],
    *[(f"uniform {b} bit/entry, centroids", UniformCodec(b, centroids=True)) for b in (0.025, 0.05, 0.1, 0.2, 0.5, 1.0)],
    *[(f"uniform {b} bit/entry, trellis", UniformCodec(b, trellis=True)) for b in (0.025, 0.05, 0.1, 0.2, 0.5, 1.0)],
    *[
        (f"uniform {b} bit/entry, rate-distortion levels, kernel coder", UniformCodec(b, rate_distortion=True, coder="kernel"))
        for b in (0.025, 0.05, 0.1, 0.2, 0.5, 1.0)
    ],
]


def relative_error(residual: dict[str, torch.Tensor], out: dict[str, torch.Tensor]) -> float:
    floats = [k for k in residual if residual[k].is_floating_point()]
    error = sum(float(((out[k] - residual[k]) ** 2).sum()) for k in floats)
    return error / sum(float((residual[k] ** 2).sum()) for k in floats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("residuals", help="a file written by link_residuals.py")
    parser.add_argument("--every", type=int, default=5, help="code every n-th saved residual")
    parser.add_argument("--stages", default="", help="only the stages whose label matches this regex")
    args = parser.parse_args()
    torch.set_num_threads(1)
    residuals = [r["state"] for r in torch.load(args.residuals, weights_only=False)["residuals"]][:: args.every]
    print(f"{len(residuals)} uplink residuals\n")
    print("| stage | bytes (mean) | relative squared error (mean) | encode s (mean) |\n|---|---|---|---|")
    for name, codec in STAGES:
        if not re.search(args.stages, name):
            continue
        sizes, errors, seconds = [], [], []
        for residual in residuals:
            context = MessageContext(layout_of(residual), 3, 2)
            start = time.perf_counter()
            data = codec.encode(residual, context)
            seconds.append(time.perf_counter() - start)
            sizes.append(len(data))
            errors.append(relative_error(residual, codec.decode(data, context)))
        print(f"| {name} | {np.mean(sizes):.0f} | {np.mean(errors):.3f} | {np.mean(seconds):.2f} |", flush=True)


if __name__ == "__main__":
    main()
