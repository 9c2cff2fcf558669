"""How well each order-1 prediction foresees a client's next model, on a real run.

Runs a finished run's spec in-process (`link_residuals.federation_of`) and, at every
uplink transfer from round 2 on, compares the energy (sum of squares over the float
entries) of the client's update `w - anchor` (Res-0's residual) with that of its residual
to the two order-1 predictions: the client's own last recovered update
(`trajectory: recovered`, the paper) and the global model's last step
(`trajectory: anchor`). Both are computed at every transfer, whichever the run uses.

  PYTHONPATH=$PWD python benchmarks/prediction_residuals.py RUN_JSON DATA PARTITION [--rounds 10]
"""

from __future__ import annotations

import json
import statistics

import torch
from link_residuals import federation_of, run_parser

from resfed import state as st
from resfed.link import LinkEnd


def energy(state: st.State) -> float:
    return sum(float(t.double().square().sum()) for t in state.values() if t.is_floating_point())


def measure(spec: dict, data: str, partition: str, rounds: int) -> list[dict]:
    """One row per uplink transfer from round 2 on: round and the three energies."""
    federation = federation_of(spec, data, partition)
    last: dict[int, tuple[st.State, st.State]] = {}  # id(end) -> (its last recovered update, its last anchor)
    rows, send = [], LinkEnd.send

    def recording(end: LinkEnd, model: st.State, anchor: st.State, round_index: int):  # noqa: ANN202
        data_bytes, recovered = send(end, model, anchor, round_index)
        if end.settings.predictor == "trajectory":
            update = st.sub(model, anchor)
            if id(end) in last:
                own, previous_anchor = last[id(end)]
                step = st.sub(anchor, previous_anchor)
                rows.append({"round": round_index, "update": energy(update),
                             "own": energy(st.sub(update, own)), "global": energy(st.sub(update, step))})
            last[id(end)] = (st.sub(recovered, anchor), st.clone(anchor))
        return data_bytes, recovered

    LinkEnd.send = recording
    try:
        for round_index in range(1, rounds + 1):
            federation.run_round(round_index)
    finally:
        LinkEnd.send = send
    return rows


def main() -> None:
    args = run_parser(__doc__.splitlines()[0]).parse_args()
    with open(args.run_json) as file:
        spec = json.load(file)["config"]
    torch.set_num_threads(int(spec["threads"]))
    rows = measure(spec, args.data, args.partition, args.rounds)
    print(f"{spec['partition']} {spec['variant']} seed {spec['seed']}: residual energy / update energy")
    print("| round | own last update (paper) | global model's last step |\n|---|---|---|")
    for round_index in sorted({row["round"] for row in rows}):
        of_round = [row for row in rows if row["round"] == round_index]
        own = statistics.mean(row["own"] / row["update"] for row in of_round)
        step = statistics.mean(row["global"] / row["update"] for row in of_round)
        print(f"| {round_index} | {own:.3f} | {step:.3f} |")
    print(f"| mean | {statistics.mean(r['own'] / r['update'] for r in rows):.3f} | "
          f"{statistics.mean(r['global'] / r['update'] for r in rows):.3f} |")


if __name__ == "__main__":
    main()
