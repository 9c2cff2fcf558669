"""The ``kernel`` coder: kernel contexts round-trip under every base model, pay off where
kernels share structure, and change nothing for tensors without kernels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from codec_checks import EXAMPLES, KERNEL_STATE, hashed, kernel_structured, squared_error
from hypothesis import given, settings
from hypothesis import strategies as st

from resfed.codec import CodecConfig, DeepCodec, MessageContext, MessageError, UniformCodec, layout_of
from resfed.codec.coders import CODERS, context
from resfed.codec.coders.base import Slot, Sparse
from resfed.codec.coders.kernels import SIGN_CONTEXTS, fit_factors, position_contexts
from resfed.codec.formats.uniform import level_bits
from resfed.codec.rangecoding import Encoder, check_exhausted, stream_bytes, stream_decoder
from resfed.methods.links import stage_codec

KERNEL_SHAPES = [(4, 3, 2, 2), (3, 2, 3), (5, 2, 3, 3), (2, 1, 1, 2), (6, 1, 5)]


@st.composite
def kernel_tensors(draw):
    shape = draw(st.sampled_from(KERNEL_SHAPES))
    n = int(np.prod(shape))
    mask = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    negative = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))) & mask
    codes = np.array(draw(st.lists(st.integers(1, 1023), min_size=8, max_size=8)))
    return shape, mask, negative, codes


@settings(max_examples=200, deadline=None)
@given(kernel_tensors(), st.integers(0, context.N_POSITION_MODELS - 1), st.sampled_from(context.GROUPINGS))
def test_kernel_positions_and_signs_roundtrip_under_every_model(tensor, position_model, grouping) -> None:
    shape, mask, negative, codes = tensor
    rows = shape[0]
    encoder = Encoder()
    context._encode_kernel_positions(encoder, mask.reshape(rows, -1), shape, position_model, codes)
    if mask.any():
        context._encode_kernel_signs(encoder, mask.reshape(rows, -1), negative.reshape(rows, -1), shape, grouping, codes[:SIGN_CONTEXTS])
    decoder = stream_decoder(stream_bytes(encoder))
    decoded = context._decode_kernel_positions(decoder, shape, int(mask.sum()), position_model)
    assert np.array_equal(decoded.reshape(-1), mask)
    if mask.any():
        signs = context._decode_kernel_signs(decoder, decoded, shape, grouping)
        assert np.array_equal(signs, negative[mask])
    check_exhausted(decoder)


def test_position_contexts_name_the_left_above_and_other_entries() -> None:
    kernel = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]], dtype=bool)  # one 3x3 kernel
    contexts = position_contexts(kernel.reshape(1, 9), (1, 1, 3, 3)).reshape(3, 3)
    # left + 2 above + 4 (another kept before): e.g. the centre: left and above dropped,
    # two corners kept; the middle right: left, above and a corner kept
    assert contexts.tolist() == [[0, 1, 4], [6, 4, 7], [4, 6, 4]]


def test_fitted_factors_follow_the_data() -> None:
    p = np.full(4000, 0.1)
    y = np.zeros(4000, dtype=bool)
    y[:800] = True  # context 0: 40 % kept of 2000 where the model says 10 %
    y[2000:2020] = True  # context 1: 1 %
    contexts = np.repeat([0, 1], 2000)
    codes = fit_factors(y, p, contexts, 3)
    assert codes[0] / 32 == pytest.approx(6.0, abs=1 / 32)  # odds 2 / 3 over 1 / 9
    assert codes[1] / 32 == pytest.approx(0.0909, abs=1 / 32)  # odds 1 / 99 over 1 / 9
    assert codes[2] == 32  # no data: factor 1


def test_kernel_contexts_shrink_a_kernel_structured_top_k_message() -> None:
    example = EXAMPLES["deep"][-1]
    assert example.codec.config.coder == "kernel"
    twin = DeepCodec(dataclasses.replace(example.codec.config, coder="context"))
    data, plain = example.encode(), twin.encode(example.payload, example.context)
    decoded, reference = example.decode(data), twin.decode(plain, example.context)
    for name in KERNEL_STATE:  # the same symbols, in fewer bytes
        assert np.array_equal(decoded[name].numpy(), reference[name].numpy())
    assert len(data) < 0.95 * len(plain)


def test_kernel_contexts_buy_a_finer_uniform_step_within_the_budget() -> None:
    example = next(e for e in EXAMPLES["uniform"] if e.name == "conv_bpe1_kernel")
    twin = dataclasses.replace(example.codec, coder="context")
    data, plain = example.encode(), twin.encode(example.payload, example.context)
    budget = example.codec.bits_per_entry * sum(v.numel() for v in KERNEL_STATE.values()) / 8
    assert len(data) <= budget + 64 and len(plain) <= budget + 64  # the frame's header on top
    error = squared_error(KERNEL_STATE, example.decode(data))
    assert error < 0.9 * squared_error(KERNEL_STATE, twin.decode(plain, example.context))


def test_without_kernels_the_stream_is_the_context_coders() -> None:
    rng = np.random.default_rng(0)
    sparse = []
    for shape in [(10, 20), (30,), (4, 3, 1, 1)]:  # matrices, vectors, 1x1 kernels
        idx = np.flatnonzero(rng.random(int(np.prod(shape))) < 0.3)
        sparse.append(Sparse(shape, idx, rng.random(idx.size) < 0.5))
    assert CODERS["kernel"].encode(sparse) == CODERS["context"].encode(sparse)


def test_a_kernel_message_is_not_read_as_a_context_one() -> None:
    state = KERNEL_STATE
    ctx = MessageContext(layout_of(state), 4, 3)
    data = UniformCodec(1, coder="kernel").encode(state, ctx)
    assert UniformCodec(1, coder="kernel").kind == 7
    with pytest.raises(MessageError, match="kind"):
        UniformCodec(1).decode(data, ctx)


def test_uniform_takes_only_range_coders_with_costs() -> None:
    with pytest.raises(ValueError, match="uniform coder must be one of"):
        UniformCodec(1, coder="golomb")


def test_corrupt_kernel_counts_raise_message_error() -> None:
    shape = (4, 3, 2, 2)
    mask = hashed(shape, 3).numpy() > 0.2
    sparse = Sparse(shape, np.flatnonzero(mask), None)
    data = CODERS["kernel"].encode([sparse])
    slot = Slot("w", shape, int(mask.sum()) + 1, dense=False, signs=False)  # one more than coded
    with pytest.raises(MessageError):
        CODERS["kernel"].decode(memoryview(data), [slot])


def test_deep_codec_accepts_the_kernel_coder() -> None:
    assert CodecConfig(coder="kernel").coder == "kernel"


def test_a_direction_config_chooses_the_kernel_coder_for_the_uniform_stage() -> None:
    codec = stage_codec({"stage": "uniform", "bits_per_entry": 0.5, "coder": "kernel"})
    assert isinstance(codec, UniformCodec) and codec.coder == "kernel" and codec.kind == 7
    with pytest.raises(ValueError, match="uniform coder must be one of .* got 'huffman'"):
        stage_codec({"stage": "uniform", "coder": "huffman"})


def test_the_level_search_prices_kernel_neighbours() -> None:
    """With kernel pricing, an entry after a kept one in its kernel is cheaper to keep than
    one in an empty kernel, and one whose sign follows the kernel's costs less than one whose
    sign breaks it, where the levels say kernels cluster and share signs."""
    shape = (16, 8, 3, 3)
    values = kernel_structured(shape, 21).numpy().reshape(16, -1)
    levels = (np.abs(values) > np.quantile(np.abs(values), 0.8)).astype(np.int64)
    negative = values < 0
    plain = level_bits(levels, 1)(np.ones_like(levels))
    priced = level_bits(levels, 1, (shape, negative))(np.ones_like(levels))
    after_kept = position_contexts(levels > 0, shape) == 1  # left neighbour kept, nothing else
    isolated = position_contexts(levels > 0, shape) == 0
    assert priced[after_kept].mean() < plain[after_kept].mean()
    assert priced[after_kept].mean() < priced[isolated].mean()
    flipped = level_bits(levels, 1, (shape, ~negative))(np.ones_like(levels))
    assert priced[after_kept & (levels > 0)].mean() <= flipped[after_kept & (levels > 0)].mean()


@pytest.mark.parametrize("levels", ["rate_distortion", "trellis"])
def test_kernel_priced_levels_roundtrip_within_budget(levels) -> None:
    codec = UniformCodec(0.5, coder="kernel", **{levels: True})
    ctx = MessageContext(layout_of(KERNEL_STATE), 4, 3)
    data = codec.encode(KERNEL_STATE, ctx)
    assert len(data) <= 0.5 * sum(v.numel() for v in KERNEL_STATE.values()) / 8 + 64
    decoded = codec.decode(data, ctx)
    twin = dataclasses.replace(codec, coder="context")
    assert squared_error(KERNEL_STATE, decoded) < 0.9 * squared_error(KERNEL_STATE, twin.decode(twin.encode(KERNEL_STATE, ctx), ctx))
    assert codec.encode(KERNEL_STATE, ctx) == data  # deterministic
