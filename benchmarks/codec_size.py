"""Coded bytes against the information bound and the paper's ~350x, on real residuals.

Trains a LeNet-5 on Fashion-MNIST (see codec_workloads.py) and codes its Res-0 and
Res-1 residuals of each round with every coder, at 99% sparsity + 1 bit (the paper's
setting), per tensor (the paper) and with the official code's global threshold and
median zeroing (to compare like with like with its 350-375x). Sizes are ``len(bytes)``
of complete messages (header, table and CRC included); the bound is log2 C(n, k) + k
sign bits + 2 float32 per tensor (``resfed.codec.bounds``).

With ``--residuals FILE.pt`` (written by link_residuals.py) it codes instead the residuals
the uplink senders of a real run coded (the link's Res-1 residuals to its prediction).

    .venv/bin/python benchmarks/codec_size.py [--residuals FILE.pt]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from codec_workloads import real_residuals

from resfed.codec import CodecConfig, encode, layout_of, size_report
from resfed.codec.coders import CODERS

PAPER_RATIO = 350  # the paper's per-round compression for LeNet-5 at 99% + 1 bit


def measure(state, **config) -> dict:
    layout, config = layout_of(state), CodecConfig(**config)
    return size_report(encode(state, layout, config, method_id=1, round_index=1), state, layout, config)


def offline_residuals() -> list[tuple[str, dict]]:
    rounds = real_residuals(rounds=4)
    residuals = [
        (f"round {t + 1} {kind}", r[kind]) for t, r in enumerate(rounds) for kind in ("res0", "res1")
    ]
    return [(name, s) for name, s in residuals if name != "round 1 res1"]  # == round 1 res0


def link_residuals(path: str) -> list[tuple[str, dict]]:
    saved = torch.load(path, weights_only=False)["residuals"]
    return [(f"round {r['round']} client {i % 10}", r["state"]) for i, r in enumerate(saved)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residuals", help="residuals saved by link_residuals.py (default: train offline)")
    args = parser.parse_args()
    residuals = link_residuals(args.residuals) if args.residuals else offline_residuals()
    dense = measure(residuals[0][1], sparsity=0.0, bits=32)["dense_bytes"]
    settings = {
        "per tensor, median (paper)": dict(sparsity=0.99, bits=1),
        "global, median zeroing (official code)": dict(
            sparsity=0.99, bits=1, scope="global", reconstruction="median_zeroing"
        ),
    }
    print(
        f"LeNet-5 residuals, dense float32 = {dense:,} bytes; paper's estimate = {dense / PAPER_RATIO:.0f} bytes ({PAPER_RATIO}x)\n"
    )
    for title, setting in settings.items():
        print(f"### {title}, 99% sparsity + 1 bit\n")
        print("| residual | bound B | " + " | ".join(f"{c} B" for c in CODERS) + " |")
        print("|---|---:|" + "---:|" * len(CODERS))
        summary = {c: [] for c in CODERS}
        bounds = []
        for name, state in residuals:
            reports = {c: measure(state, coder=c, **setting) for c in CODERS}
            bound = reports["context"]["bound_bytes"]
            bounds.append(bound)
            for c in CODERS:
                summary[c].append(reports[c]["coded_bytes"])
            cells = " | ".join(f"{reports[c]['coded_bytes']}" for c in CODERS)
            print(f"| {name} | {bound:.0f} | {cells} |")
        print("\n| coder | mean bytes | coded / bound | compression (dense / coded) | vs paper's 350x |")
        print("|---|---:|---:|---:|---:|")
        mean_bound = statistics.mean(bounds)
        print(
            f"| information bound | {mean_bound:.0f} | 1.000 | {dense / mean_bound:.0f}x | {dense / mean_bound / PAPER_RATIO:.2f} |"
        )
        for c in CODERS:
            mean = statistics.mean(summary[c])
            print(
                f"| {c} | {mean:.0f} | {mean / mean_bound:.3f} | {dense / mean:.0f}x | {dense / mean / PAPER_RATIO:.2f} |"
            )
        print()
    print(f"### Sparsity sweep, per tensor, median, default coder (context) vs golomb, {residuals[min(len(residuals) - 1, 4)][0]}\n")
    state = residuals[min(len(residuals) - 1, 4)][1]
    print(
        "| sparsity | bound B | context B | context / bound | golomb B | golomb / bound | compression (context) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for sparsity in (0.0, 0.9, 0.95, 0.99, 0.995, 0.999):
        ctx = measure(state, sparsity=sparsity, bits=1)
        gol = measure(state, sparsity=sparsity, bits=1, coder="golomb")
        b = ctx["bound_bytes"]
        print(
            f"| {sparsity} | {b:.0f} | {ctx['coded_bytes']} | {ctx['coded_bytes'] / b:.3f} | "
            f"{gol['coded_bytes']} | {gol['coded_bytes'] / b:.3f} | {ctx['compression']:.0f}x |"
        )


if __name__ == "__main__":
    main()
