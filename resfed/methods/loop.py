"""Base of the round loops whose messages are not model states (FedPM's masks, IGC's
subspace coordinates).

They reuse Federation's clients, data, participant selection and `run`, but keep state of
their own (posterior counts, coordinates not yet sent) that `resfed.checkpoint` does not
save. Resuming such a run from a checkpoint would silently restart that state, so `run`
refuses to resume instead of producing wrong numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np

from resfed.federation import Federation, RoundRecord


class OwnRoundLoop(Federation):
    """A Federation whose subclass overrides `run_round` and holds extra state."""

    checkpointable: ClassVar[bool] = False  # its extra state is not in resfed.checkpoint

    def run(
        self,
        max_rounds: int,
        target_accuracy: float | None = None,
        rounds_after_target: int | None = 0,
        on_round: Callable[[RoundRecord], None] | None = None,
        done: Sequence[RoundRecord] = (),
    ) -> list[RoundRecord]:
        if done:
            raise RuntimeError(
                f"{self.method.name} keeps round state that checkpoints do not hold; it cannot resume after "
                f"round {len(done)}. Delete the run's .ckpt folder to run it again from round 1."
            )
        return super().run(max_rounds, target_accuracy, rounds_after_target, on_round)

    def record(
        self,
        round_index: int,
        started: float,
        traffic: tuple[list[int], list[int]],
        evaluation: tuple[float, float],
        losses: Sequence[float],
        sizes: Sequence[int],
    ) -> RoundRecord:
        """The round's record: bytes per client (ul, dl), (accuracy, loss), sample-weighted train loss."""
        return RoundRecord(
            round=round_index,
            ul_bytes=traffic[0],
            dl_bytes=traffic[1],
            test_accuracy=evaluation[0],
            test_loss=evaluation[1],
            train_loss=float(np.average(losses, weights=sizes)),
            sync_ok=True,
            wall_seconds=time.perf_counter() - started,
        )
