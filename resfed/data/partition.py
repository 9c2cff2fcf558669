"""Client partitions of a training set: iid, pathological ``classes:k``, ``dirichlet:alpha``.

A partition is computed once per (dataset, scheme, clients, seed) and stored in a file
with a hash, so every method and seed of a comparison trains on the very same split.
All randomness comes from ``numpy.random.default_rng(seed)``, used in a fixed order:
the same inputs give the same partition on every machine. Every scheme returns disjoint,
sorted index arrays that together cover each training sample exactly once.

Schemes are spelt as :mod:`resfed.partition_scheme` says (``classes:5`` or ``classes-5``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resfed.atomic import atomic_write_text
from resfed.partition_scheme import Scheme, parse_scheme
from .errors import PartitionError
from .tagged_json import read_tagged_json

FORMAT = "resfed-partition"
FORMAT_VERSION = 1


# ------------------------------------------------------------------------------ make
def make_partition(labels: np.ndarray, scheme: str | Scheme, n_clients: int, seed: int,
                   *, min_size: int = 1, max_tries: int = 100) -> list[np.ndarray]:
    """Split sample indices ``0..len(labels)-1`` among ``n_clients``.

    - ``iid``: a seeded permutation cut into ``n_clients`` near-equal parts.
    - ``classes:k``: each client holds exactly ``k`` distinct classes. Classes are dealt
      greedily, each client taking the ``k`` classes held by the fewest clients so far
      (ties broken at random), so every class is held and holder counts differ by at
      most one; each class's samples are shuffled and cut equally among its holders.
      Needs ``n_clients * k >= number of classes``.
    - ``dirichlet:alpha``: per class, proportions ~ Dir(alpha, ..., alpha) over clients
      (Hsu et al. 2019). A draw that leaves a client with fewer than ``min_size`` samples
      is redrawn (up to ``max_tries`` times, then a ValueError).

    Returns one sorted int64 index array per client.
    """
    s = parse_scheme(scheme)
    labels = _check_inputs(labels, n_clients, seed)
    rng = np.random.default_rng(seed)
    if s.kind == "iid":
        parts = np.array_split(rng.permutation(len(labels)), n_clients)
    elif s.kind == "classes":
        parts = _by_classes(labels, int(s.param), n_clients, rng)  # type: ignore[arg-type]
    else:
        parts = _dirichlet(labels, float(s.param), n_clients, rng, min_size, max_tries)  # type: ignore[arg-type]
    return [np.sort(p).astype(np.int64) for p in parts]


def _check_inputs(labels: np.ndarray, n_clients: int, seed: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-d integer array, got {labels.dtype} {labels.shape}")
    if len(labels) == 0:
        raise ValueError("labels is empty: nothing to partition")
    if labels.min() < 0:
        raise ValueError("labels must be >= 0")
    if isinstance(n_clients, bool) or not isinstance(n_clients, (int, np.integer)) or n_clients < 1:
        raise ValueError(f"n_clients must be an integer >= 1, got {n_clients!r}")
    if n_clients > len(labels):
        raise ValueError(f"{n_clients} clients but only {len(labels)} samples: some client would be empty")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return labels


def _by_classes(labels: np.ndarray, k: int, n_clients: int, rng: np.random.Generator) -> list[np.ndarray]:
    classes = np.unique(labels)
    n_classes = len(classes)
    if k > n_classes:
        raise ValueError(f"classes:{k}: k exceeds the {n_classes} classes present in the labels")
    if n_clients * k < n_classes:
        raise ValueError(f"classes:{k} with {n_clients} clients holds at most {n_clients * k} of the "
                         f"{n_classes} classes; need n_clients * k >= {n_classes} so every sample has a client")
    holders: list[list[int]] = [[] for _ in range(n_classes)]
    load = np.zeros(n_classes, dtype=np.int64)
    for client in range(n_clients):
        order = np.lexsort((rng.random(n_classes), load))  # fewest holders first, random ties
        for c in order[:k]:
            holders[c].append(client)
        load[order[:k]] += 1
    parts: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
    for ci, c in enumerate(classes):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        if len(idx) < len(holders[ci]):
            raise ValueError(f"classes:{k}: class {c} has {len(idx)} samples but is held by "
                             f"{len(holders[ci])} clients; use fewer clients or a larger k")
        for client, chunk in zip(holders[ci], np.array_split(idx, len(holders[ci])), strict=True):
            parts[client].append(chunk)
    return [np.concatenate(p) for p in parts]


def _dirichlet(labels: np.ndarray, alpha: float, n_clients: int, rng: np.random.Generator,
               min_size: int, max_tries: int) -> list[np.ndarray]:
    classes = np.unique(labels)
    by_class = [np.flatnonzero(labels == c) for c in classes]
    sizes = np.zeros(n_clients, dtype=np.int64)
    for _ in range(max_tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        for idx in by_class:
            idx = rng.permutation(idx)
            p = rng.dirichlet(np.full(n_clients, alpha))
            cuts = np.clip(np.cumsum(p)[:-1] * len(idx), 0, len(idx)).astype(np.int64)
            for client, chunk in enumerate(np.split(idx, cuts)):
                parts[client].append(chunk)
        sizes = np.array([sum(len(c) for c in p) for p in parts])
        if sizes.min() >= min_size:  # np.split keeps every sample, so only sizes can fail
            return [np.concatenate(p) for p in parts]
    raise ValueError(f"{Scheme('dirichlet', alpha)}: no draw in {max_tries} gave every one of {n_clients} clients "
                     f">= {min_size} samples (last sizes: min {sizes.min()}, max {sizes.max()}); "
                     "raise alpha or use fewer clients")


def class_counts(clients: Sequence[np.ndarray], labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Matrix ``(n_clients, num_classes)`` of samples per client and class (for reports)."""
    labels = np.asarray(labels)
    n = int(num_classes if num_classes is not None else labels.max() + 1)
    return np.stack([np.bincount(labels[c], minlength=n) for c in clients]) if len(clients) else np.zeros((0, n), int)


# ------------------------------------------------------------------------------ files
def partition_hash(clients: Sequence[Sequence[int] | np.ndarray]) -> str:
    """sha256 of the canonical JSON of the index lists (``[[0,5],[1,2]]``, no spaces)."""
    text = json.dumps([[int(i) for i in c] for c in clients], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _check_disjoint(clients: Sequence[np.ndarray], where: str) -> None:
    flat = np.concatenate([np.asarray(c, dtype=np.int64) for c in clients]) if clients else np.zeros(0, np.int64)
    if flat.size and flat.min() < 0:
        raise PartitionError(f"{where}: negative sample index")
    if np.unique(flat).size != flat.size:
        raise PartitionError(f"{where}: a sample index is assigned to more than one client (or twice)")


def write_partition(path: str | Path, clients: Sequence[np.ndarray], meta: Mapping[str, Any]) -> str:
    """Write a partition file atomically; return its hash.

    ``meta`` must name ``scheme``, ``seed`` and ``dataset_checksum`` (the prepared data's
    sha256) so the file says which data it splits; other keys (e.g. ``dataset``) are kept.
    """
    missing = [k for k in ("scheme", "seed", "dataset_checksum") if k not in meta]
    if missing:
        raise ValueError(f"write_partition: meta lacks {missing}")
    lists = [[int(i) for i in np.asarray(c).reshape(-1)] for c in clients]
    _check_disjoint([np.asarray(c, dtype=np.int64) for c in lists], str(path))
    digest = partition_hash(lists)
    head = {**meta, "format": FORMAT, "format_version": FORMAT_VERSION,
            "scheme": parse_scheme(meta["scheme"]).spec, "n_clients": len(lists),
            "n_samples": sum(len(c) for c in lists), "sizes": [len(c) for c in lists], "hash": digest}
    body = json.dumps(head, indent=2, sort_keys=True)[:-2]  # reopen the object to append clients
    rows = ",\n".join("    " + json.dumps(c, separators=(",", ":")) for c in lists)
    atomic_write_text(path, f'{body},\n  "clients": [\n{rows}\n  ]\n}}\n')
    return digest


@dataclass(frozen=True)
class PartitionFile:
    """A verified partition file: the index arrays, its metadata and its hash."""

    clients: list[np.ndarray]
    meta: dict[str, Any]
    hash: str

    @property
    def scheme(self) -> Scheme:
        return parse_scheme(self.meta["scheme"])


def read_partition_file(path: str | Path, *, dataset_checksum: str | None = None,
                        n_samples: int | None = None) -> PartitionFile:
    """Read and verify a partition file: hash, sizes, no empty client, disjointness and, when
    given, the data it was made for and its training-set size (every index below it).

    Every problem raises :class:`PartitionError` naming the file and how to remake it.
    """
    path = Path(path)
    hint = ("remake it with `resfed partition --data PREPARED.npz --scheme SCHEME --clients N --seed S "
            f"--out {path}` (under Snakemake: delete it and rerun)")
    doc = read_tagged_json(path, FORMAT, PartitionError, hint)
    clients = doc.get("clients")
    if not isinstance(clients, list) or not all(
            isinstance(c, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in c) for c in clients):
        raise PartitionError(f"{path}: 'clients' must be a list of lists of integers; {hint}")
    actual = partition_hash(clients)
    if actual != doc.get("hash"):
        raise PartitionError(f"{path}: hash mismatch (file says {doc.get('hash')}, content gives {actual}); "
                             f"the file was edited or damaged after it was written; {hint}")
    sizes = [len(c) for c in clients]
    if doc.get("n_clients") != len(clients) or doc.get("sizes") != sizes or doc.get("n_samples") != sum(sizes):
        raise PartitionError(f"{path}: header says {doc.get('n_clients')} clients of sizes {doc.get('sizes')} "
                             f"({doc.get('n_samples')} samples), the lists hold {len(clients)} of sizes {sizes}; {hint}")
    empty = [i for i, size in enumerate(sizes) if size == 0]
    if empty:
        raise PartitionError(f"{path}: client(s) {empty} hold no sample; {hint}")
    arrays = [np.asarray(c, dtype=np.int64) for c in clients]
    _check_disjoint(arrays, f"{path}")
    if n_samples is not None:
        for i, a in enumerate(arrays):
            if a.max() >= n_samples:
                raise PartitionError(f"{path}: client {i} holds sample index {int(a.max())}, but the data has "
                                     f"{n_samples} training samples; {hint}")
    if dataset_checksum is not None and doc.get("dataset_checksum") != dataset_checksum:
        raise PartitionError(f"{path}: made for data {doc.get('dataset_checksum')}, not {dataset_checksum}; {hint}")
    meta = {k: v for k, v in doc.items() if k != "clients"}
    return PartitionFile(arrays, meta, actual)


def read_partition(path: str | Path, *, dataset_checksum: str | None = None) -> list[np.ndarray]:
    """The verified index arrays of a partition file (see :func:`read_partition_file`)."""
    return read_partition_file(path, dataset_checksum=dataset_checksum).clients


def partition_prepared(prepared_npz: str | Path, out_path: str | Path, scheme: str | Scheme, n_clients: int,
                       seed: int, subsample: int | None = None, **kwargs: Any) -> PartitionFile:
    """Partition a prepared dataset's training labels and write the file (one CLI step).

    The file records the prepared data's sha256, so a later run can check that it splits
    the data it is used with. `subsample` first draws that many training samples (seeded),
    for quick runs; the partition then covers only those.
    """
    from .prepared import load_prepared  # local: partitions do not otherwise need the data layer

    data = load_prepared(prepared_npz)
    pool = np.arange(len(data.y_train))
    if subsample is not None and subsample < len(pool):
        pool = np.sort(np.random.default_rng([int(seed), 1]).choice(pool, size=subsample, replace=False))
    clients = [pool[c] for c in make_partition(data.y_train[pool], scheme, n_clients, seed, **kwargs)]
    meta = {"scheme": parse_scheme(scheme).spec, "seed": int(seed), "dataset": data.name,
            "dataset_checksum": data.checksum, "subsample": subsample}
    digest = write_partition(out_path, clients, meta)
    return PartitionFile(clients, {**meta, "n_clients": n_clients, "hash": digest}, digest)
