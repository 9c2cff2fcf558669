"""Intrinsic gradient compression (Wang & Melas-Kyriazi, "Intrinsic Gradient Compression
for Scalable and Efficient Federated Learning", arXiv:2112.02656): model updates restricted
to random d-dimensional subspaces that both ends generate from the shared seed.

A client trains as in FedAvg, then sends c = P^T (w - w_start): d float32 numbers, where
P is a D x d random matrix with unit-norm columns. The server averages the c of its
clients (the same as averaging the reconstructed updates P c, by linearity), scales the
mean by ``server_lr`` and sends it back; both ends add P c to the model they share, with
the same code, so their models stay bit-identical (digests are compared every round).
Projecting the multi-step local update is what the paper's one-step derivation becomes
with local epochs; the paper's own clients step in the subspace directly.

Which subspace a round uses (``subspace``): ``static`` one P for the whole run,
``k_subspace`` one of ``subspaces`` fixed P's drawn per round from the shared seed,
``time_varying`` a new P every round. A client that missed rounds (partial participation)
receives the coordinates of every round it missed, applied in order.

P is never stored whole. ``hadamard`` (default) is a subsampled randomised Hadamard
transform, P = diag(signs) H[:, R] / sqrt(D) on the first D rows: columns of +-1/sqrt(D),
unit norm, O(D log D) time, the structured choice that scales to ResNet-18. ``gaussian``
is the literal description, i.i.d. Gaussian entries with columns normalised to unit
length, regenerated in row blocks from seeded generators (O(D d) time per use, O(block d)
memory): on LeNet-5 with d = 2048 it costs ~1.5 s per projection on one CPU thread
against milliseconds, for the same accuracy (measured, benchmarks/methods.md).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from resfed.method_ids import METHOD_IDS
from resfed import state as st
from resfed.codec import CoordinatesCodec, Layout, MessageContext, MessageError
from resfed.strategy import Client, RunContext, Server, Strategy, register

METHOD_ID = METHOD_IDS["igc"]
SUBSPACES = ("static", "k_subspace", "time_varying")
PROJECTIONS = ("gaussian", "hadamard")
BLOCK_ROWS = 4096  # rows of a Gaussian P generated at a time
_TAG = 0x16C


@dataclass(frozen=True)
class IGCSettings:
    """IGC's settings (see the module docstring)."""

    subspace: str = "time_varying"
    dimension: int = 2048
    subspaces: int = 4
    projection: str = "hadamard"
    server_lr: float | None = None

    def __post_init__(self) -> None:
        if self.subspace not in SUBSPACES or self.projection not in PROJECTIONS:
            raise ValueError(f"igc: subspace in {SUBSPACES}, projection in {PROJECTIONS}; got {self}")
        if self.dimension < 1 or self.subspaces < 1 or (self.server_lr is not None and self.server_lr <= 0):
            raise ValueError(f"igc: need dimension >= 1, subspaces >= 1, server_lr > 0 or null; got {self}")

    def scale(self, size: int) -> float:
        """The server's step on the mean coordinates: ``server_lr``, or D / d when null (P P^T
        keeps about d / D of an update's length, so D / d makes the lifted mean unbiased)."""
        return self.server_lr if self.server_lr is not None else size / self.dimension

    @classmethod
    def from_variant(cls, variant: Mapping[str, Any]) -> IGCSettings:
        return cls(**dict(variant.get("igc") or {}))


def _seed(*tags: int) -> int:
    return int(np.random.SeedSequence([_TAG, *tags]).generate_state(1)[0])


def subspace_index(settings: IGCSettings, seed: int, round_index: int) -> int:
    """Which subspace round ``round_index`` uses; every endpoint computes the same."""
    if settings.subspace == "static":
        return 0
    if settings.subspace == "time_varying":
        return round_index
    return int(np.random.default_rng(_seed(seed, 1, round_index)).integers(settings.subspaces))


class GaussianSubspace:
    """P with i.i.d. Gaussian entries, columns normalised to unit length, generated in row blocks."""

    def __init__(self, seed: int, size: int, dimension: int) -> None:
        self.seed, self.size, self.dimension = seed, size, dimension
        self._norms: torch.Tensor | None = None
        self._last: tuple[bytes, torch.Tensor] | None = None

    def _blocks(self) -> Iterator[tuple[slice, torch.Tensor]]:
        """(row slice, block of P before normalisation), regenerated from the seed."""
        for start in range(0, self.size, BLOCK_ROWS):
            rows = min(BLOCK_ROWS, self.size - start)
            generator = torch.Generator().manual_seed(_seed(self.seed, start))
            yield slice(start, start + rows), torch.randn(rows, self.dimension, generator=generator)

    def project(self, vectors: torch.Tensor) -> torch.Tensor:
        """P^T vectors for vectors of shape (D, m): (d, m)."""
        out = torch.zeros(self.dimension, vectors.shape[1])
        squares = torch.zeros(self.dimension)
        for rows, block in self._blocks():
            out += block.T @ vectors[rows]
            squares += block.square().sum(dim=0)
        self._norms = squares.sqrt()
        return out / self._norms[:, None]

    def lift(self, coordinates: torch.Tensor) -> torch.Tensor:
        """P c: shape (D,). The last result is memoised: in a simulation the server and
        every client lift the same coordinates, and regenerating P costs seconds."""
        key = coordinates.numpy().tobytes()
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        if self._norms is None:
            self._norms = sum(block.square().sum(dim=0) for _, block in self._blocks()).sqrt()
        scaled = coordinates / self._norms
        out = torch.empty(self.size)
        for rows, block in self._blocks():
            out[rows] = block @ scaled
        self._last = (key, out)
        return out


class HadamardSubspace:
    """P = diag(signs) H[:, R] / sqrt(D) on the first D of L = 2^k >= max(D, d) rows."""

    def __init__(self, seed: int, size: int, dimension: int) -> None:
        self.size, self.dimension = size, dimension
        self.length = 1 << max(size - 1, dimension - 1, 1).bit_length()
        generator = torch.Generator().manual_seed(_seed(seed))
        self.signs = torch.randint(0, 2, (self.length,), generator=generator).float() * 2 - 1
        self.rows = torch.randperm(self.length, generator=generator)[:dimension]
        self.scale = 1 / math.sqrt(size)

    def project(self, vectors: torch.Tensor) -> torch.Tensor:
        padded = torch.zeros(self.length, vectors.shape[1])
        padded[: self.size] = vectors * self.signs[: self.size, None]
        return _hadamard(padded.T).T[self.rows] * self.scale

    def lift(self, coordinates: torch.Tensor) -> torch.Tensor:
        spread = torch.zeros(self.length)
        spread[self.rows] = coordinates
        return (_hadamard(spread[None])[0] * self.signs)[: self.size] * self.scale


def _hadamard(x: torch.Tensor) -> torch.Tensor:
    """Unnormalised fast Walsh-Hadamard transform of each row of x (m, L), L a power of 2."""
    m, length = x.shape
    h = 1
    while h < length:
        pairs = x.reshape(m, -1, 2, h)
        x = torch.stack((pairs[:, :, 0] + pairs[:, :, 1], pairs[:, :, 0] - pairs[:, :, 1]), dim=2).reshape(m, length)
        h *= 2
    return x


@functools.lru_cache(maxsize=8)
def subspace(projection: str, seed: int, index: int, size: int, dimension: int) -> GaussianSubspace | HadamardSubspace:
    """The subspace ``index`` of a run: a pure function of its arguments, so memoising it
    (and its column norms) changes no result, only the time."""
    kind = GaussianSubspace if projection == "gaussian" else HadamardSubspace
    return kind(_seed(seed, 2, index), size, dimension)


# State <-> flat vector of the floating-point entries ------------------------------------


def flatten(state: Mapping[str, torch.Tensor], layout: Layout) -> torch.Tensor:
    """The floating-point entries as one float32 CPU vector (projections run on the CPU)."""
    return torch.cat([state[s.name].detach().reshape(-1).float().cpu() for s in layout if s.is_float])


def add_flat(state: Mapping[str, torch.Tensor], layout: Layout, delta: torch.Tensor) -> st.State:
    """state + delta on the floating-point entries; integer entries are kept as they are."""
    out, offset = {}, 0
    for spec in layout:
        tensor = state[spec.name]
        if spec.is_float:
            part = delta[offset : offset + spec.numel].view(spec.shape)
            tensor = tensor + part.to(tensor.device, tensor.dtype)
            offset += spec.numel
        out[spec.name] = tensor
    return out


class Subspaces:
    """The subspaces of a run, known to every endpoint: which one a round uses, and applying updates."""

    def __init__(self, settings: IGCSettings, context: RunContext) -> None:
        self.settings, self.seed, self.layout = settings, context.seed, context.layout
        self.size = sum(spec.numel for spec in context.layout if spec.is_float)  # D

    def of_round(self, round_index: int) -> GaussianSubspace | HadamardSubspace:
        index = subspace_index(self.settings, self.seed, round_index)
        return subspace(self.settings.projection, self.seed, index, self.size, self.settings.dimension)

    def codec(self, direction: str) -> CoordinatesCodec:
        """The message codec of ``direction`` ("ul" or "dl")."""
        return CoordinatesCodec(self.settings.dimension, direction)

    def context(self, round_index: int) -> MessageContext:
        return MessageContext(self.layout, METHOD_ID, round_index)

    def apply(self, state: st.State, blocks: Sequence[tuple[int, np.ndarray]]) -> st.State:
        """Add each block's P c in order: the one code path of server and clients."""
        for block_round, coordinates in blocks:
            state = add_flat(state, self.layout, self.of_round(block_round).lift(torch.from_numpy(coordinates)))
        return state


def coordinates_digest(coordinates: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(coordinates, dtype="<f4").tobytes()).hexdigest()[:32]


class IGCClient(Client):
    """A client: the global model it holds; it sends its update's coordinates in this round's subspace."""

    def __init__(self, index: int, context: RunContext, strategy: IGC) -> None:
        super().__init__(index, context)
        self.spaces = strategy.spaces
        self.held_global = st.clone(context.initial)
        self.sent = np.zeros(strategy.igc.dimension, dtype=np.float32)  # the last coordinates sent
        self.sent_round = 0
        self.sent_start = self.held_global  # the model the last sent update starts from

    def uplink(self, round_index: int) -> bytes:
        local = self.take_trained()
        update = flatten(local, self.spaces.layout) - flatten(self.held_global, self.spaces.layout)
        self.sent = self.spaces.of_round(round_index).project(update[:, None])[:, 0].numpy()
        self.sent_round, self.sent_start = round_index, self.held_global
        return self.spaces.codec("ul").encode([(round_index, self.sent)], self.spaces.context(round_index))

    def downlink(self, data: bytes, round_index: int) -> None:
        blocks = self.spaces.codec("dl").decode(data, self.spaces.context(round_index))
        self.held_global = self.spaces.apply(self.held_global, blocks)

    def model(self) -> st.State:
        return self.held_global

    def sent_model(self) -> st.State:
        """The round's start plus P c: the local model as far as the subspace carries it."""
        if not self.sent_round:
            return self.sent_start
        return self.spaces.apply(self.sent_start, [(self.sent_round, self.sent)])

    def digest(self, direction: str) -> str:
        return coordinates_digest(self.sent) if direction == "ul" else st.digest(self.held_global)

    def state_dict(self) -> dict[str, Any]:
        return {
            "held_global": self.held_global,
            "sent": torch.from_numpy(self.sent.copy()),
            "sent_round": self.sent_round,
            "sent_start": self.sent_start,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.held_global, self.sent = state["held_global"], state["sent"].numpy()
        self.sent_round, self.sent_start = state["sent_round"], state["sent_start"]


class IGCServer(Server):
    """The global model, the mean coordinates of the rounds some client has not applied yet,
    and per client the last round whose update it applied."""

    def __init__(self, context: RunContext, strategy: IGC) -> None:
        super().__init__(context)
        self.igc, self.spaces = strategy.igc, strategy.spaces
        self.global_state = st.clone(context.initial)
        self.received: dict[int, np.ndarray] = {}
        self.history: dict[int, np.ndarray] = {}  # round -> the mean coordinates it applied
        self.synced = [0] * context.n_clients

    def receive(self, client: int, data: bytes, round_index: int) -> None:
        blocks = self.spaces.codec("ul").decode(data, self.spaces.context(round_index))
        if [r for r, _ in blocks] != [round_index]:
            raise MessageError(f"uplink of client {client}: expected one block of round {round_index}")
        self.received[client] = blocks[0][1]

    def aggregate(self, round_index: int, clients: Sequence[int], sizes: Sequence[int]) -> None:
        stacked = np.stack([self.received[i] for i in clients]).astype(np.float64)
        mean = self.igc.scale(self.spaces.size) * np.average(stacked, axis=0, weights=sizes)
        self.history[round_index] = mean.astype(np.float32)
        self.global_state = self.spaces.apply(self.global_state, [(round_index, self.history[round_index])])

    def model(self) -> st.State:
        return self.global_state

    def downlink(self, client: int, round_index: int) -> bytes:
        missed = [(r, self.history[r]) for r in range(self.synced[client] + 1, round_index + 1)]
        self.synced[client] = round_index
        for r in [r for r in self.history if r <= min(self.synced)]:
            del self.history[r]
        return self.spaces.codec("dl").encode(missed, self.spaces.context(round_index))

    def digest(self, client: int, direction: str) -> str:
        return coordinates_digest(self.received[client]) if direction == "ul" else st.digest(self.global_state)

    def state_dict(self) -> dict[str, Any]:
        return {
            "global": self.global_state,
            "received": {str(i): torch.from_numpy(c.copy()) for i, c in self.received.items()},
            "history": {str(r): torch.from_numpy(c.copy()) for r, c in self.history.items()},
            "synced": list(self.synced),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.global_state = state["global"]
        self.received = {int(i): c.numpy() for i, c in state["received"].items()}
        self.history = {int(r): c.numpy() for r, c in state["history"].items()}
        self.synced = list(state["synced"])


@register
class IGC(Strategy):
    """IGC: plain local SGD, updates sent as coordinates in shared random subspaces."""

    name = "igc"
    method_id = METHOD_ID

    def __init__(self, variant: Mapping[str, Any], context: RunContext) -> None:
        super().__init__(variant, context)
        self.igc = IGCSettings.from_variant(variant)
        self.spaces = Subspaces(self.igc, context)

    def new_client(self, index: int) -> IGCClient:
        return IGCClient(index, self.context, self)

    def new_server(self) -> IGCServer:
        return IGCServer(self.context, self)
