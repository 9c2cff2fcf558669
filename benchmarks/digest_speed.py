"""Time of one link-end digest (`resfed.state.digest`, SHA-256) against the same digest
with blake2b, on the three models' full states.

Every link end hashes the model it recovered, every round, so a 10-client round with both
directions hashes 40 states. Both hashes run in one process on the same bytes; the
median of ``--repeats`` timings is reported with their ratio.

    .venv/bin/python benchmarks/digest_speed.py
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import platform
from collections.abc import Mapping

import torch
from codec_speed import timed
from codec_workloads import MODELS, random_residual

from resfed.state import digest


def blake2b_digest(state: Mapping[str, torch.Tensor]) -> str:
    """The digest as it was before SHA-256: blake2b over the same bytes in the same order."""
    hasher = hashlib.blake2b(digest_size=16)
    for name, tensor in state.items():
        hasher.update(name.encode())
        hasher.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return hasher.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"Recorded {datetime.date.today().isoformat()}: {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, torch {torch.__version__}, median of {args.repeats}")
    print()
    print("| model | state bytes | blake2b ms | SHA-256 ms (used) | blake2b / SHA-256 |")
    print("|---|---:|---:|---:|---:|")
    for label, build in MODELS.items():
        state = random_residual(build())
        size = sum(t.numel() * t.element_size() for t in state.values())
        blake2b_digest(state), digest(state)  # warm-up
        old = timed(lambda: blake2b_digest(state), args.repeats)  # noqa: B023
        new = timed(lambda: digest(state), args.repeats)  # noqa: B023
        print(f"| {label} | {size:,} | {1000 * old:.2f} | {1000 * new:.2f} | {old / new:.1f}x |")


if __name__ == "__main__":
    main()
