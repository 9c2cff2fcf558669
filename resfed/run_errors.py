"""How a training run ends other than by finishing: the CLI turns these into one line and an exit code.

Kept apart from resfed.run so the CLI can catch them without importing torch.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path


class RunExists(RuntimeError):
    """The output directory holds a finished run (its run.json) and replacing it was not asked for."""


class RunInterrupted(Exception):
    """Ctrl-C during training; the rounds done so far are in rounds.csv, the checkpoint is kept."""

    def __init__(self, out_dir: Path, rounds_done: int) -> None:
        super().__init__(f"{out_dir}: interrupted after round {rounds_done}; rerun the same command to resume "
                         "(from the last checkpoint)")
        self.rounds_done = rounds_done


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C until the block ends, then raise it: a round's files are written whole.

    (torch.save turns an interrupt mid-write into a RuntimeError, which would hide the Ctrl-C.)
    Outside the main thread signals cannot be caught; the block then runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
