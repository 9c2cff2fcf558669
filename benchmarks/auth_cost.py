"""Cost of authenticated messages (`resfed.codec.auth`): time of seal + open against
encode + decode, and the bytes the tag adds, for LeNet-5 and the paper's CNN messages.

Messages: random Gaussian residuals of the models' full state dicts coded at 99 % sparsity
+ 1 bit with the default coder (what ResFed sends), and the lossless float32 state (what
FedAvg sends). Keyed BLAKE2b over the same bytes is timed beside the HMAC-SHA256 in use.

    .venv/bin/python benchmarks/auth_cost.py
"""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import subprocess
from functools import partial

import torch
from codec_speed import timed
from codec_workloads import MODELS, random_residual

from resfed.codec import CodecConfig, decode, encode, layout_of
from resfed.codec.auth import TAG_BYTES, LinkKeys

CONFIGS = {"99 % + 1 bit": CodecConfig(sparsity=0.99, bits=1), "float32": CodecConfig(sparsity=0.0, bits=32)}
REPEATS = {"LeNet-5": 50, "CNN": 10}


def main() -> None:
    torch.set_num_threads(2)
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model_name = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if "Model name" in line), "?")
    print(f"{datetime.date.today()}, {model_name}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    keys = LinkKeys(os.urandom(32))
    other_key = os.urandom(32)
    print("| model | message | bytes | tag bytes | tag / message | encode + decode ms | seal + open ms "
          "| (seal + open) / (encode + decode) | keyed BLAKE2b seal + open ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for label in REPEATS:
        state = random_residual(MODELS[label]())
        layout = layout_of(state)
        for name, config in CONFIGS.items():
            data = encode(state, layout, config, method_id=4, round_index=1)
            sealed = keys.seal("ul", 0, data, round_index=1)
            repeats = REPEATS[label]
            coding = timed(partial(encode, state, layout, config, method_id=4, round_index=1), repeats)
            coding += timed(partial(decode, data, layout), repeats)
            tagging = timed(partial(keys.seal, "ul", 0, data, 1), repeats)
            tagging += timed(partial(keys.open, "ul", 0, sealed, 1), repeats)
            # keyed BLAKE2b: one tag to send, one to check
            blake = partial(hashlib.blake2b, data, key=other_key, digest_size=TAG_BYTES)
            blake_time = 2 * timed(blake, repeats)
            print(f"| {label} | {name} | {len(data):,} | {TAG_BYTES} | {TAG_BYTES / len(data):.2%} "
                  f"| {1e3 * coding:.2f} | {1e3 * tagging:.3f} | {tagging / coding:.3%} | {1e3 * blake_time:.3f} |")


if __name__ == "__main__":
    main()
