"""Bytes vs residual error of the uplink stages on residuals of a real ResFed run.

Runs Res-1 (uplink 99 % + 1 bit, downlink lossless) for 4 rounds on the test suite's tiny
problem (tests/federation_helpers.py: 4 clients, LeNet-5, synthetic 28x28 images), keeps
every uplink residual of rounds 1-4 (16 residuals, what the senders coded), and codes each
one with every stage: mean message bytes and mean relative squared error
sum((r_hat - r)^2) / sum(r^2). Usage: PYTHONPATH=$PWD python benchmarks/uniform_stage.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from federation_helpers import make_federation  # noqa: E402

from resfed import state as st  # noqa: E402
from resfed.codec import CodecConfig, DeepCodec, MessageContext, UniformCodec, layout_of  # noqa: E402
from resfed.link import LinkEnd  # noqa: E402

STAGES = [
    ("top-k 99 % + 1 bit (paper)", DeepCodec(CodecConfig())),
    ("top-k 90 % + 1 bit", DeepCodec(CodecConfig(sparsity=0.9))),
    *[(f"uniform {b} bit/entry, dead zone {z}", UniformCodec(b, z)) for b in (0.1, 0.25, 0.5, 1.0) for z in (0.75, 1.5)],
]


def uplink_residuals(rounds: int = 4) -> list[st.State]:
    """The residuals the lossy uplink senders coded."""
    captured, send = [], LinkEnd.send

    def recording(end: LinkEnd, model: st.State, anchor: st.State, round_index: int):  # noqa: ANN202
        if end.settings.predictor == "trajectory" and not end._is_warmup() and not end.settings.codec.lossless:
            captured.append(st.sub(model, end._prediction(anchor)))
        return send(end, model, anchor, round_index)

    LinkEnd.send = recording
    try:
        make_federation({"method": "resfed", "order": 1, "ul": {"sparsity": 0.99, "bits": 1}}).run(rounds)
    finally:
        LinkEnd.send = send
    return captured


def main() -> None:
    residuals = uplink_residuals()
    print(f"{len(residuals)} uplink residuals\n\n| stage | bytes (mean) | relative squared error (mean) |\n|---|---|---|")
    for name, codec in STAGES:
        sizes, errors = [], []
        for residual in residuals:
            context = MessageContext(layout_of(residual), 3, 2)
            data = codec.encode(residual, context)
            out = codec.decode(data, context)
            floats = [k for k in residual if residual[k].is_floating_point()]
            error = sum(float(((out[k] - residual[k]) ** 2).sum()) for k in floats)
            sizes.append(len(data))
            errors.append(error / sum(float((residual[k] ** 2).sum()) for k in floats))
        print(f"| {name} | {np.mean(sizes):.0f} | {np.mean(errors):.3f} |")


if __name__ == "__main__":
    main()
