"""What a person watching a training run reads, in the units of the tables.

Volumes are Mb (1e6 bits) per client and direction, cumulative, as in Table 1 and
rounds.csv's `*_bits_cum_per_client`. On a terminal a tqdm bar shows them; in a log file
(stderr is not a terminal, e.g. under Snakemake) each round is one line. The round that
first reaches the target accuracy gets a line of its own, and so does an early stop, so
its reason reaches the job's log. Optionally every round also goes to TensorBoard.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from resfed.records import RoundRecord

MEGABIT_BYTES = 1e6 / 8


class TensorBoardMissing(RuntimeError):
    """--tensorboard was asked for but the optional `tensorboard` package is not installed."""


def _tensorboard_writer(folder: str | Path) -> Any:  # noqa: ANN401 - SummaryWriter, an optional import
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise TensorBoardMissing(
            f"TensorBoard logging needs the optional package: pip install 'resfed[tensorboard]' ({error})"
        ) from None
    return SummaryWriter(log_dir=str(folder))


class Progress:
    """Per-round reporting of one run: bar or log lines, target line, stop reason, TensorBoard."""

    def __init__(
        self, label: str, total_rounds: int, n_clients: int, target: float | None, *,
        done: Sequence[RoundRecord] = (), enabled: bool = True, stream: TextIO | None = None,
        tensorboard: str | Path | None = None, target_on: str = "server",
    ) -> None:
        self.label, self.total, self.n_clients, self.target = label, total_rounds, n_clients, target
        self.target_on = target_on
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.cumulative = {"ul": 0, "dl": 0}  # bytes, all clients
        self.reached: int | None = None
        for record in done:
            self._count(record)
        self.on_terminal = enabled and self.stream.isatty()
        self.bar = tqdm(total=total_rounds, initial=len(done), unit="round", desc=label, file=self.stream,
                        disable=not self.on_terminal)
        self.writer = _tensorboard_writer(tensorboard) if tensorboard else None

    def _count(self, record: RoundRecord) -> bool:
        """Add the round's bytes; whether it is the first round at or above the target."""
        self.cumulative["ul"] += sum(record.ul_bytes)
        self.cumulative["dl"] += sum(record.dl_bytes)
        first = self.reached is None and self.target is not None and record.accuracy(self.target_on) >= self.target
        if first:
            self.reached = record.round
        return first

    def megabits(self, direction: str) -> float:
        """Cumulative volume so far, Mb per client in `direction`."""
        return self.cumulative[direction] / MEGABIT_BYTES / self.n_clients

    def round(self, record: RoundRecord) -> None:
        first_at_target = self._count(record)
        ul, dl = self.megabits("ul"), self.megabits("dl")
        if self.writer is not None:
            self._to_tensorboard(record, ul, dl)
        if not self.enabled:
            return
        if self.on_terminal:
            self.bar.update(1)
            self.bar.set_postfix(acc=f"{record.test_accuracy:.4f}", UL=f"{ul:.4g}Mb", DL=f"{dl:.4g}Mb")
        else:
            self.write(
                f"{self.label} round {record.round}/{self.total}: accuracy {record.test_accuracy:.4f}, "
                f"per client this round UL {sum(record.ul_bytes) / self.n_clients:,.0f} B "
                f"DL {sum(record.dl_bytes) / self.n_clients:,.0f} B, "
                f"cumulative per client UL {ul:.4g} Mb DL {dl:.4g} Mb, {record.wall_seconds:.1f} s"
            )
        if first_at_target:
            self.write(f"{self.label}: target {self.target} reached at round {record.round} "
                       f"({ul:.4g} Mb UL, {dl:.4g} Mb DL per client)")

    def _to_tensorboard(self, record: RoundRecord, ul_mb: float, dl_mb: float) -> None:
        scalars = {
            "accuracy/test": record.test_accuracy, "loss/test": record.test_loss, "loss/train": record.train_loss,
            "volume_Mb_per_client/ul": ul_mb, "volume_Mb_per_client/dl": dl_mb,
            "bytes_per_client_round/ul": sum(record.ul_bytes) / self.n_clients,
            "bytes_per_client_round/dl": sum(record.dl_bytes) / self.n_clients,
            "seconds/round": record.wall_seconds,
        }
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, record.round)
        self.writer.flush()

    def write(self, line: str) -> None:
        """A line that must not be torn by the bar."""
        if self.on_terminal:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self, stopped: str | None = None, rounds: int = 0) -> None:
        """End the bar; an early stop's reason is always written, --quiet or not."""
        self.bar.close()
        if self.writer is not None:
            self.writer.close()
        if stopped:
            print(f"{self.label}: stopped after {rounds} round(s): {stopped}", file=self.stream, flush=True)
