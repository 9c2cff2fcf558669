"""Partitions: properties of each scheme, error messages, hashed files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resfed.data import (
    PartitionError,
    class_counts,
    make_partition,
    partition_hash,
    partition_prepared,
    read_partition,
    read_partition_file,
    write_partition,
)


def _labels(n_classes=10, per_class=60, seed=0):
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(n_classes), per_class))


def assert_disjoint_and_complete(parts, n):
    flat = np.concatenate(parts)
    assert flat.size == n and np.array_equal(np.sort(flat), np.arange(n))
    assert all(p.dtype == np.int64 and np.all(np.diff(p) > 0) for p in parts)  # sorted, no repeats


# --------------------------------------------------------------------------- properties


_SCHEMES = ["iid", "classes:1", "classes:2", "classes:3", "classes:5", "classes:10",
            "dirichlet:0.1", "dirichlet:0.5", "dirichlet:100"]
_COVERING = [(s, n) for s in _SCHEMES for n in (1, 3, 10, 17)
             if not s.startswith("classes") or n * int(s.split(":")[1]) >= 10]  # others: tested as errors


@pytest.mark.parametrize("scheme, n_clients", _COVERING)
def test_disjoint_complete_deterministic(scheme, n_clients):
    labels = _labels()
    parts = make_partition(labels, scheme, n_clients, seed=3)
    assert len(parts) == n_clients and all(len(p) > 0 for p in parts)
    assert_disjoint_and_complete(parts, len(labels))
    again = make_partition(labels, scheme, n_clients, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))


@pytest.mark.parametrize("scheme", ["iid", "classes:2", "dirichlet:0.5"])
def test_different_seeds_differ(scheme):
    labels = _labels()
    a = make_partition(labels, scheme, 10, seed=0)
    b = make_partition(labels, scheme, 10, seed=1)
    assert partition_hash(a) != partition_hash(b)


def test_iid_sizes_and_class_mix():
    parts = make_partition(_labels(per_class=100), "iid", 10, seed=0)
    assert sorted({len(p) for p in parts}) == [100]
    assert (class_counts(parts, _labels(per_class=100)) > 0).sum(axis=1).min() >= 8


@pytest.mark.parametrize("n_classes, k, n_clients", [(10, 2, 10), (10, 5, 10), (10, 3, 10), (100, 50, 10),
                                                     (10, 2, 5), (10, 1, 10), (10, 3, 7), (10, 10, 4)])
def test_classes_k_each_client_exactly_k_and_balanced_coverage(n_classes, k, n_clients):
    labels = _labels(n_classes, per_class=30)
    parts = make_partition(labels, f"classes:{k}", n_clients, seed=11)
    counts = class_counts(parts, labels, n_classes)
    held = counts > 0
    assert held.sum(axis=1).tolist() == [k] * n_clients  # exactly k classes per client
    holders = held.sum(axis=0)
    assert holders.min() >= 1 and holders.max() - holders.min() <= 1  # every class, evenly spread
    for c in range(n_classes):  # a class's samples are cut equally among its holders
        sizes = counts[held[:, c], c]
        assert sizes.max() - sizes.min() <= 1
    assert_disjoint_and_complete(parts, len(labels))


def test_classes_k_paper_settings_vary_with_seed():
    labels = _labels()
    sets = {tuple(np.unique(labels[p])) for seed in range(5) for p in make_partition(labels, "classes:2", 10, seed)}
    assert len(sets) > 5  # class pairs are drawn, not a fixed rotation


def test_classes_k_with_labels_not_starting_at_zero():
    labels = np.repeat([3, 7, 9], 10)
    parts = make_partition(labels, "classes:1", 3, seed=0)
    assert sorted(int(np.unique(labels[p])[0]) for p in parts) == [3, 7, 9]


def test_dirichlet_small_alpha_is_skewed_large_alpha_is_near_iid():
    labels = _labels(per_class=200)
    skew = class_counts(make_partition(labels, "dirichlet:0.05", 10, seed=0), labels)
    flat = class_counts(make_partition(labels, "dirichlet:1000", 10, seed=0), labels)
    share = lambda m: (m.max(axis=1) / m.sum(axis=1)).mean()  # noqa: E731 - mean dominant-class share
    assert share(skew) > 0.5 and share(flat) < 0.15


def test_dirichlet_min_size_redraws_or_fails_clearly():
    labels = _labels(per_class=20)
    parts = make_partition(labels, "dirichlet:0.5", 10, seed=0, min_size=5)
    assert min(len(p) for p in parts) >= 5
    with pytest.raises(ValueError, match=r"dirichlet:0.01: no draw in 3 gave every one of 50 clients >= 1 samples"):
        make_partition(labels, "dirichlet:0.01", 50, seed=0, max_tries=3)


@settings(max_examples=60, deadline=None)
@given(n_classes=st.integers(1, 12), per_class=st.integers(1, 15), n_clients=st.integers(1, 12),
       seed=st.integers(0, 2**32), kind=st.sampled_from(["iid", "classes", "dirichlet"]), k=st.integers(1, 12))
def test_property_disjoint_complete_or_clear_error(n_classes, per_class, n_clients, seed, kind, k):
    labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(n_classes), per_class))
    scheme = {"iid": "iid", "classes": f"classes:{k}", "dirichlet": "dirichlet:1"}[kind]
    try:
        parts = make_partition(labels, scheme, n_clients, seed)
    except ValueError as e:
        assert any(w in str(e) for w in ("clients but only", "k exceeds", "need n_clients * k", "samples but is held",
                                          "no draw in"))
        return
    assert len(parts) == n_clients and all(len(p) for p in parts)
    assert_disjoint_and_complete(parts, len(labels))


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(scheme="classes:11"), r"classes:11: k exceeds the 10 classes"),
    (dict(scheme="classes:2", n_clients=4), r"holds at most 8 of the 10 classes; need n_clients \* k >= 10"),
    (dict(scheme="iid", n_clients=601), r"601 clients but only 600 samples"),
    (dict(scheme="iid", n_clients=0), r"n_clients must be an integer >= 1"),
    (dict(scheme="iid", seed=-1), r"seed must be an integer >= 0"),
    (dict(scheme="dirichlet:0"), r"alpha must be finite and > 0"),
    (dict(scheme="shards:2"), r"allowed: iid, classes:k"),
    (dict(scheme="classes:1", labels=np.array([0, 0, 0, 1]), n_clients=4), r"class 1 has 1 samples but is held by 2"),
    (dict(scheme="iid", labels=np.array([0.0, 1.0]), n_clients=2), r"1-d integer array"),
    (dict(scheme="iid", labels=np.array([], dtype=int), n_clients=1), r"labels is empty"),
])
def test_impossible_specs(kwargs, pattern):
    args = dict(labels=_labels(), n_clients=10, seed=0) | kwargs
    with pytest.raises(ValueError, match=pattern):
        make_partition(args["labels"], args["scheme"], args["n_clients"], args["seed"])


# -------------------------------------------------------------------------------- files


META = {"scheme": "classes-2", "seed": 4, "dataset": "mnist", "dataset_checksum": "ab" * 32}


def test_partition_file_round_trip(tmp_path):
    labels = _labels()
    parts = make_partition(labels, "classes:2", 10, seed=4)
    path = tmp_path / "p" / "part.json"
    digest = write_partition(path, parts, META)
    f = read_partition_file(path)
    assert digest == f.hash == partition_hash(parts)
    assert all(np.array_equal(a, b) for a, b in zip(parts, f.clients, strict=True))
    assert f.meta["scheme"] == "classes:2" and f.scheme.slug == "classes-2"
    assert f.meta["n_clients"] == 10 and f.meta["seed"] == 4 and f.meta["dataset_checksum"] == "ab" * 32
    assert f.meta["sizes"] == [len(p) for p in parts] and f.meta["n_samples"] == len(labels)
    assert len(read_partition(path, dataset_checksum="ab" * 32)) == 10
    assert list((tmp_path / "p").iterdir()) == [path]
    assert len(path.read_text().splitlines()) < 40  # one line per client, readable


def test_partition_hash_is_canonical():
    assert partition_hash([np.array([0, 5]), np.array([1])]) == partition_hash([[0, 5], [1]])
    import hashlib
    assert partition_hash([[0, 5], [1]]) == hashlib.sha256(b"[[0,5],[1]]").hexdigest()


@pytest.mark.parametrize("edit", ["move_index", "drop_client", "hash", "n_clients"])
def test_tampered_partition_file_is_rejected(tmp_path, edit):
    path = tmp_path / "part.json"
    write_partition(path, make_partition(_labels(), "iid", 4, seed=0), META)
    doc = json.loads(path.read_text())
    if edit == "move_index":
        doc["clients"][1].append(doc["clients"][0].pop())
    elif edit == "drop_client":
        doc["clients"].pop()
    elif edit == "hash":
        doc["hash"] = "0" * 64
    else:
        doc["n_clients"] = 3
    path.write_text(json.dumps(doc))
    with pytest.raises(PartitionError) as e:
        read_partition(path)
    assert str(path) in str(e.value)


def test_partition_for_other_data_and_garbage(tmp_path):
    path = tmp_path / "part.json"
    write_partition(path, make_partition(_labels(), "iid", 2, seed=0), META)
    with pytest.raises(PartitionError, match="made for data abab"):
        read_partition(path, dataset_checksum="cd" * 32)
    path.write_text("{not json")
    with pytest.raises(PartitionError, match="not a readable resfed-partition file"):
        read_partition(path)


def test_write_refuses_overlap_and_missing_meta(tmp_path):
    with pytest.raises(PartitionError, match="more than one client"):
        write_partition(tmp_path / "x.json", [np.array([0, 1]), np.array([1, 2])], META)
    with pytest.raises(ValueError, match=r"meta lacks \['dataset_checksum'\]"):
        write_partition(tmp_path / "x.json", [np.array([0])], {"scheme": "iid", "seed": 0})
    assert not (tmp_path / "x.json").exists()


def test_partition_prepared_records_the_data_checksum(tmp_path, monkeypatch):
    from resfed.data import prepare, sources
    from resfed.data.synthetic import write_raw

    monkeypatch.setattr(sources, "DEBIAN_ROOTS", ())
    spec, data = write_raw("mnist", tmp_path / "data" / "raw" / "mnist", n_train=50, n_test=10)
    prep = prepare("mnist", tmp_path / "mnist.npz", root=tmp_path / "data", spec=spec, network=False)
    f = partition_prepared(tmp_path / "mnist.npz", tmp_path / "part.json", "classes-2", 5, seed=1)
    again = read_partition_file(tmp_path / "part.json", dataset_checksum=prep.checksum)
    assert again.hash == f.hash and again.meta["dataset"] == "mnist" and again.meta["scheme"] == "classes:2"
    assert_disjoint_and_complete(again.clients, 50)
