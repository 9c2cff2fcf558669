"""Property tests: any finite state, any config, round-trips to the reference."""

from __future__ import annotations

import numpy as np
import torch
from codec_checks import ALL_CODERS, check_roundtrip
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from resfed.codec import CodecConfig, decode, encode, layout_of
from resfed.codec.coders import CODERS
from resfed.codec.coders.base import Slot, Sparse
from resfed.codec.sparsify import keep_count

shapes = st.lists(st.integers(1, 6), min_size=0, max_size=3).map(tuple)
values = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5]),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32),
)
tensors = shapes.flatmap(lambda s: arrays(np.float32, s, elements=values)).map(torch.from_numpy)
states = st.lists(tensors, min_size=1, max_size=3).map(lambda ts: {f"t{i}": t for i, t in enumerate(ts)})
configs = st.builds(
    CodecConfig,
    sparsity=st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.99, 0.999]),
    bits=st.sampled_from([1, 32]),
    scope=st.sampled_from(["tensor", "global"]),
    reconstruction=st.sampled_from(["median", "mean", "median_zeroing"]),
    coder=st.sampled_from(ALL_CODERS),
)


@settings(max_examples=300, deadline=None)
@given(states, configs)
def test_any_state_roundtrips_to_reference(state, config) -> None:
    check_roundtrip(state, config)


@settings(max_examples=100, deadline=None)
@given(states, configs)
def test_never_more_nonzeros_than_kept(state, config) -> None:
    layout = layout_of(state)
    _, out = decode(encode(state, layout, config, method_id=0, round_index=0), layout)
    if config.scope == "tensor":
        for t in out.values():
            assert int(torch.count_nonzero(t)) <= keep_count(t.numel(), config.sparsity)


@st.composite
def sparse_sets(draw):
    shape = draw(st.sampled_from([(1,), (7,), (64,), (5, 9), (4, 3, 2, 2), (1, 30), (30, 1)]))
    n = int(np.prod(shape))
    idx = np.array(sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n))), dtype=np.int64)
    signs = draw(st.booleans())
    negative = (
        np.array(draw(st.lists(st.booleans(), min_size=idx.size, max_size=idx.size))) if signs else None
    )
    return shape, idx, negative


@settings(max_examples=100, deadline=None)
@given(st.lists(sparse_sets(), min_size=1, max_size=3), st.sampled_from(ALL_CODERS))
def test_coders_roundtrip_any_positions(items, name) -> None:
    coder = CODERS[name]
    sparse = [Sparse(s, None if i.size == np.prod(s) else i, neg) for s, i, neg in items]
    slots = [
        Slot(f"t{j}", s, i.size, i.size == np.prod(s), neg is not None) for j, (s, i, neg) in enumerate(items)
    ]
    decoded = coder.decode(memoryview(coder.encode(sparse)), slots)
    for (_, idx, negative), (got_idx, got_neg) in zip(items, decoded):
        assert got_idx is None or np.array_equal(got_idx, idx)
        assert (negative is None and got_neg is None) or np.array_equal(got_neg, negative)
