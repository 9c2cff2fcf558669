"""What one round produced, and the columns of `rounds.csv` that record it.

The round loop builds a `RoundRecord`; the run writes the records as `rounds.csv` and the
reports read them back, all through the column names declared here.

Synchronisation is recorded, not only checked: per direction, one digest over what the
sending ends of all the round's links recovered and one over what the receiving ends
recovered (each a SHA-256 over the per-link model digests in client order). `sync_ok` is
true when both pairs agree, and anyone can recompute it from the two columns.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

#: Columns every ``rounds.csv`` has besides the per-client byte columns ``<dir>_bytes_client<i>``.
ROUND_COLUMNS: tuple[str, ...] = (
    "round",
    "ul_bytes",
    "dl_bytes",
    "ul_bits_cum_per_client",
    "dl_bits_cum_per_client",
    "test_accuracy",
    "test_loss",
    "train_loss",
    "sync_ok",
    "wall_seconds",
)
#: The accuracy of the models the round's downlink receivers hold (mean, minimum): with a
#: compressed downlink these differ from the server's model, which no client holds.
CLIENT_ACCURACY_COLUMNS: tuple[str, ...] = ("client_accuracy_mean", "client_accuracy_min")
#: Digest columns: what the sending and the receiving ends recovered, per direction.
DIGEST_COLUMNS: tuple[str, ...] = ("ul_digest_sender", "ul_digest_receiver", "dl_digest_sender", "dl_digest_receiver")


def links_digest(digests: Sequence[str]) -> str:
    """One digest over the per-link digests of one side of a direction, in client order."""
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()[:32]


def digests_agree(row: Any) -> bool:
    """Whether both directions' sender and receiver digests agree (a rounds.csv row or a record)."""
    get = row.get if isinstance(row, dict) else lambda key: getattr(row, key)
    return get("ul_digest_sender") == get("ul_digest_receiver") and get("dl_digest_sender") == get(
        "dl_digest_receiver"
    )


@dataclass
class RoundRecord:
    round: int
    ul_bytes: list[int]
    dl_bytes: list[int]
    test_accuracy: float
    test_loss: float
    train_loss: float
    wall_seconds: float
    client_accuracy_mean: float = math.nan
    client_accuracy_min: float = math.nan
    ul_digest_sender: str = ""
    ul_digest_receiver: str = ""
    dl_digest_sender: str = ""
    dl_digest_receiver: str = ""

    @property
    def sync_ok(self) -> bool:
        return digests_agree(self)

    def accuracy(self, target_on: str) -> float:
        """The accuracy that decides the target: the server's model, or the mean over the
        models the clients hold (`target_on` "server" or "clients")."""
        return self.test_accuracy if target_on == "server" else self.client_accuracy_mean


def rounds_columns(n_clients: int) -> list[str]:
    """The columns of rounds.csv in order: the header a run that stopped before round 1 still writes."""
    per_direction = [[f"{d}_bytes", *(f"{d}_bytes_client{i}" for i in range(n_clients)), f"{d}_bits_cum_per_client"]
                     for d in ("ul", "dl")]
    return ["round", *per_direction[0], *per_direction[1], *ROUND_COLUMNS[5:], *CLIENT_ACCURACY_COLUMNS, *DIGEST_COLUMNS]


def rounds_frame(records: Iterable[RoundRecord], n_clients: int) -> pd.DataFrame:
    """One row per round: bytes per client and summed, cumulative bits per client, metrics, digests."""
    rows = []
    cumulative = {"ul": 0, "dl": 0}
    for r in records:
        row: dict[str, Any] = {"round": r.round}
        for direction, per_client in (("ul", r.ul_bytes), ("dl", r.dl_bytes)):
            cumulative[direction] += sum(per_client)
            row[f"{direction}_bytes"] = sum(per_client)
            row.update({f"{direction}_bytes_client{i}": b for i, b in enumerate(per_client)})
            row[f"{direction}_bits_cum_per_client"] = cumulative[direction] * 8 / n_clients
        row.update(
            test_accuracy=r.test_accuracy,
            test_loss=r.test_loss,
            train_loss=r.train_loss,
            sync_ok=r.sync_ok,
            wall_seconds=round(r.wall_seconds, 4),
            client_accuracy_mean=r.client_accuracy_mean,
            client_accuracy_min=r.client_accuracy_min,
            **{column: getattr(r, column) for column in DIGEST_COLUMNS},
        )
        rows.append(row)
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=rounds_columns(n_clients))
