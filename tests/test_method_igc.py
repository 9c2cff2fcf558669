"""IGC: the projections, subspace choice, bit-identical models, learning (messages: test_codec_igc.py)."""

import pytest
import torch

from resfed import state as st
from resfed.codec import layout_of
from resfed.federation import Federation
from resfed.methods import builder
from resfed.methods.igc import (
    BLOCK_ROWS,
    GaussianSubspace,
    HadamardSubspace,
    IGCSettings,
    add_flat,
    subspace,
    subspace_index,
)
from resfed.models import build_model
from resfed.local_training import TrainSettings
from federation_helpers import tiny_problem

def federation(igc: dict, **kwargs):
    clients, test = tiny_problem()
    torch.manual_seed(0)
    return Federation(
        build=builder({"method": "igc", "igc": igc}), model=build_model("lenet5", 1, 10, 28), client_data=clients,
        test_data=test, settings=TrainSettings(lr=0.05, batch_size=16), seed=0, **kwargs,
    )


@pytest.mark.parametrize(
    "kind, size, dimension",
    [(GaussianSubspace, BLOCK_ROWS + 300, 6), (HadamardSubspace, 1000, 24), (HadamardSubspace, 256, 256)],
)
def test_projection_is_the_transpose_of_the_lift_with_unit_columns(kind, size, dimension):
    # Prepare: the whole P, one lifted unit vector per column
    space = kind(7, size, dimension)
    matrix = torch.stack([space.lift(torch.eye(dimension)[j]) for j in range(dimension)], dim=1)
    vectors = torch.randn(size, 3, generator=torch.Generator().manual_seed(1))
    # Assert: unit columns, project = P^T, lift = P
    assert matrix.norm(dim=0).tolist() == pytest.approx([1.0] * dimension, abs=1e-5)
    assert torch.allclose(space.project(vectors), matrix.T @ vectors, atol=1e-4)
    if size == dimension:  # a full Hadamard basis is orthonormal
        assert torch.allclose(matrix.T @ matrix, torch.eye(dimension), atol=1e-5)


def test_subspaces_come_from_the_shared_seed():
    first, again = GaussianSubspace(3, 50, 4), GaussianSubspace(3, 50, 4)
    other = GaussianSubspace(4, 50, 4)
    c = torch.ones(4)
    assert torch.equal(first.lift(c), again.lift(c)) and not torch.equal(first.lift(c), other.lift(c))


def test_subspace_choice_per_mode():
    rounds = range(1, 41)
    assert {subspace_index(IGCSettings(subspace="static"), 0, t) for t in rounds} == {0}
    assert [subspace_index(IGCSettings(subspace="time_varying"), 0, t) for t in rounds] == list(rounds)
    k = [subspace_index(IGCSettings(subspace="k_subspace", subspaces=3), 0, t) for t in rounds]
    assert set(k) == {0, 1, 2} and k == [subspace_index(IGCSettings(subspace="k_subspace", subspaces=3), 0, t) for t in rounds]


@pytest.mark.parametrize("mode", ["static", "k_subspace", "time_varying"])
def test_server_and_clients_hold_bit_identical_models(mode):
    # Execute: every round compares digests itself (SyncError otherwise)
    fed = federation({"subspace": mode, "dimension": 256})
    records = fed.run(3)
    # Assert: real bytes of header + 4d, and the same model everywhere
    assert all(256 * 4 < b < 256 * 4 + 30 for r in records for b in r.ul_bytes + r.dl_bytes)
    digests = {st.digest(c.held_global) for c in fed.clients} | {st.digest(fed.server.global_state)}
    assert len(digests) == 1


@pytest.mark.parametrize("projection", ["gaussian", "hadamard"])
def test_endpoints_that_build_p_on_their_own_reconstruct_bit_identical_models(projection):
    # Prepare: two endpoints, each with its own P from the shared seed (no shared cache)
    layout = layout_of(build_model("lenet5", 1, 10, 28).state_dict())
    start = build_model("lenet5", 1, 10, 28).state_dict()
    size = sum(spec.numel for spec in layout)
    c = torch.randn(64, generator=torch.Generator().manual_seed(2))
    # Execute
    server, client = (subspace.__wrapped__(projection, 0, 1, size, 64) for _ in range(2))
    # Assert
    assert st.digest(add_flat(start, layout, server.lift(c))) == st.digest(add_flat(start, layout, client.lift(c)))


def test_clients_that_missed_rounds_get_every_missed_block():
    fed = federation({"dimension": 64}, fraction=0.5)
    records = fed.run(4)
    sizes = {b for r in records for b in r.dl_bytes if b}
    assert max(sizes) >= min(sizes) + 4 * 64  # someone caught up on two rounds at once


def test_learns_the_tiny_problem():
    records = federation({"dimension": 512, "subspace": "static"}).run(5)
    assert records[-1].test_accuracy > 0.4
