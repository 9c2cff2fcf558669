"""Save the uplink residuals a real run's senders code, for the codec benchmarks.

Runs the spec of a finished run (its run.json) in-process for a few rounds and keeps
every residual a lossy uplink sender coded (after warm-up), with the predicted update
(prediction minus anchor) both ends of its link held: what `uniform_stage.py` and
`nncodec_side_by_side.py` re-code (the update for `prediction_gain`). Usage:

  PYTHONPATH=$PWD python benchmarks/link_residuals.py RUN_JSON DATA PARTITION OUT.pt \
      [--rounds 10] [--set key=value ...]

`--set` changes the spec (e.g. `dataset_spec.subsample=5000`, for the CNN on a CPU).
"""

from __future__ import annotations

import argparse
import copy
import json

import numpy as np
import torch

from resfed import state as st
from resfed.federation import Federation
from resfed.link import LinkEnd
from resfed.methods import builder
from resfed.run import load_run


def federation_of(spec: dict, data: str, partition: str) -> Federation:
    """The in-process federation of a run spec, as `resfed train` builds it."""
    loaded = load_run(spec, data, partition)
    return Federation(
        model=loaded.model, build=builder(spec["variant_spec"]), client_data=loaded.client_data,
        test_data=loaded.test_data, settings=loaded.settings, seed=int(spec["seed"]),
        fraction=spec["fraction"], send_initial_model=spec["send_initial_model"], batched=spec["batched"],
    )


def on_cpu(state: st.State) -> st.State:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def capture(spec: dict, data: str, partition: str, rounds: int) -> list[dict]:
    """Residuals of rounds 1..rounds, each as {"round", "state", "update"}, in the order sent."""
    federation = federation_of(spec, data, partition)
    captured, captured_rounds, send = [], [], LinkEnd.send

    def recording(end: LinkEnd, model: st.State, anchor: st.State, round_index: int):  # noqa: ANN202
        if end.settings.predictor == "trajectory" and not end._is_warmup() and not end.settings.codec.lossless:
            probe = copy.deepcopy(end)  # predicts as `send` will, without moving `end`'s trajectory
            probe._observe_anchor(anchor)
            prediction = probe._prediction(anchor)
            residual, update = st.sub(model, prediction), st.sub(prediction, anchor)
            captured.append({"round": round_index, "state": on_cpu(residual), "update": on_cpu(update)})
        return send(end, model, anchor, round_index)

    LinkEnd.send = recording
    try:
        for _ in range(rounds):
            record = federation.run_round(len(captured_rounds) + 1)
            captured_rounds.append(record.round)
            print(f"round {record.round}: accuracy {record.test_accuracy:.4f}, {len(captured)} residuals", flush=True)
    finally:
        LinkEnd.send = send
    return captured


def float_tensors(state: dict[str, torch.Tensor]) -> list[tuple[np.ndarray, tuple[int, ...]]]:
    """A saved residual's float tensors as (flat float32 values, shape), BatchNorm running
    statistics left out: what the codec studies quantise."""
    return [
        (v.reshape(-1).numpy().astype(np.float32), tuple(v.shape))
        for k, v in state.items() if v.is_floating_point() and "running" not in k
    ]


def with_overrides(spec: dict, settings: list[str]) -> dict:
    for setting in settings:
        key, value = setting.split("=", 1)
        *path, last = key.split(".")
        node = spec
        for part in path:
            node = node[part]
        node[last] = json.loads(value)
    return spec


def run_parser(description: str) -> argparse.ArgumentParser:
    """Arguments of a script that reruns a finished run: its run.json, data and partition."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("run_json")
    parser.add_argument("data")
    parser.add_argument("partition")
    parser.add_argument("--rounds", type=int, default=10)
    return parser


def main() -> None:
    parser = run_parser(__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    with open(args.run_json) as file:
        spec = with_overrides(json.load(file)["config"], args.set)
    torch.set_num_threads(int(spec["threads"]))
    residuals = capture(spec, args.data, args.partition, args.rounds)
    torch.save({"spec": spec, "residuals": residuals}, args.out)
    print(f"{len(residuals)} residuals -> {args.out}")


if __name__ == "__main__":
    main()
