"""Value snapshots for Fig. C.2: one client's weights, round updates and Res-1 residuals.

At the chosen rounds the values of client 0 (as its method holds them, through the
`resfed.strategy.Client` calls `model()` and `sent_model()`) are saved to `<run dir>/values/roundNNNN.npz`:
`weights` (the new global model), `gradients` (the round update `w_local - w_start`, which
with one local epoch is the learning rate times the accumulated gradients) and `residuals`
(the Res-1 residual: this round's update minus the previous one). Only floating-point
entries, flattened in layout order. After a resume the first round has no previous update,
so its snapshot holds no residuals.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from resfed import state as st
from resfed.atomic import atomic_open
from resfed.federation import Federation


def flat_values(state: st.State) -> np.ndarray:
    """The floating-point entries of a state, flattened in order, as float32."""
    return torch.cat([t.detach().reshape(-1).float().cpu() for t in state.values() if t.is_floating_point()]).numpy()


class ValueSnapshots:
    """Call `observe(federation, round)` after every round; saves at the configured rounds."""

    def __init__(self, rounds: Iterable[int], directory: Path, start: st.State, client: int = 0) -> None:
        self.rounds = set(rounds)
        self.directory = directory
        self.client = client
        self.start = st.clone(start)
        self.previous_update: st.State | None = None

    def observe(self, federation: Federation, round_index: int) -> None:
        if not self.rounds:
            return
        client = federation.clients[self.client]
        update = st.sub(client.sent_model(), self.start)
        if round_index in self.rounds:
            arrays = {"weights": flat_values(federation.server.model()), "gradients": flat_values(update)}
            if self.previous_update is not None:
                arrays["residuals"] = flat_values(st.sub(update, self.previous_update))
            with atomic_open(self.directory / f"round{round_index:04d}.npz") as handle:
                np.savez_compressed(handle, **arrays)
        self.previous_update = update
        self.start = st.clone(client.model())
