"""How a training run ends other than by finishing: the CLI turns these into one line and an exit code.

Kept apart from resfed.run so the CLI can catch them without importing torch.
"""

from __future__ import annotations

from pathlib import Path


class RunExists(RuntimeError):
    """The output directory holds a finished run (its run.json) and replacing it was not asked for."""


class RunInterrupted(Exception):
    """Ctrl-C during training; the rounds done so far are in rounds.csv, the checkpoint is kept."""

    def __init__(self, out_dir: Path, rounds_done: int) -> None:
        super().__init__(f"{out_dir}: interrupted after round {rounds_done}; rerun the same command to resume "
                         "(from the last checkpoint)")
        self.rounds_done = rounds_done
