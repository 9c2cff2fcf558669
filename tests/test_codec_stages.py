"""The small stages on their own: keep counts, top-k ties, medians, bit syntax, code tables."""

from __future__ import annotations

import constriction
import numpy as np
import pytest
import torch
from codec_checks import structured

from resfed.codec import MessageError
from resfed.codec.bitio import BitReader, BitWriter
from resfed.codec.framing import get_varint, put_varint
from resfed.codec.coders import context
from resfed.codec.coders.golomb import best_parameter, golomb_cost, write_golomb
from resfed.codec.coders.huffman import canonical, huffman_lengths
from resfed.codec.quantize import quantize_signs
from resfed.codec.sparsify import keep_count, select, top_k


@pytest.mark.parametrize(
    "n, sparsity, k",
    [
        (100, 0.99, 1),
        (48000, 0.99, 480),
        (61706, 0.99, 618),
        (10, 0.0, 10),
        (3, 0.999, 1),
        (0, 0.5, 0),
        (7, 0.5, 4),
    ],
)
def test_keep_count_is_exact_decimal(n, sparsity, k) -> None:
    assert keep_count(n, sparsity) == k


def test_top_k_ties_go_to_lower_index_and_zeros_are_never_kept() -> None:
    magnitude = torch.tensor([1, 3, 1, 0, 3, 1, 0], dtype=torch.float32)
    assert top_k(magnitude, 3).tolist() == [0, 1, 4]
    assert top_k(magnitude, 4).tolist() == [0, 1, 2, 4]
    assert top_k(magnitude, 7).tolist() == [0, 1, 2, 4, 5]
    assert top_k(magnitude, 0).tolist() == []


def test_global_scope_uses_one_threshold() -> None:
    a = torch.tensor([5.0, 0.1, 0.2])
    b = torch.tensor([0.3, -4.0])
    assert [x.tolist() for x in select([a, b], 0.6, "global")] == [[0], [1]]
    assert [x.tolist() for x in select([a, b], 0.6, "tensor")] == [[0, 2], [1]]  # ceil(1.2), ceil(0.8)
    assert [x.tolist() for x in select([a, b], 0.2, "global")] == [[0, 2], [0, 1]]


def test_median_is_lower_middle_per_sign_and_zeroing_drops_below_median() -> None:
    flat = torch.tensor([4.0, -1.0, 2.0, -3.0, 1.0, 3.0, -2.0])
    idx = torch.arange(7)
    q = quantize_signs(flat, idx, "median")
    assert (q.pos_value, q.neg_value) == (2.0, -2.0)  # positives 1,2,3,4 -> 2; negatives 1,2,3 -> 2
    assert q.values().tolist() == [2, -2, 2, -2, 2, 2, -2]
    mean = quantize_signs(flat, idx, "mean")
    assert (mean.pos_value, mean.neg_value) == (2.5, -2.0)
    z = quantize_signs(flat, idx, "median_zeroing")  # median magnitude of all 7 is 2
    assert z.idx.tolist() == [0, 2, 3, 5, 6] and (z.pos_value, z.neg_value) == (3.0, -2.0)
    one = quantize_signs(flat, torch.tensor([0, 2]), "median")
    assert one.neg_value is None and one.pos_value == 2.0


def test_varint_and_exp_golomb_roundtrip_and_bounds() -> None:
    out = bytearray()
    values = [0, 1, 127, 128, 300, 2**40]
    for v in values:
        put_varint(out, v)
    pos, got = 0, []
    for _ in values:
        v, pos = get_varint(out, pos, len(out), "v")
        got.append(v)
    assert got == values
    with pytest.raises(MessageError, match="truncated varint"):
        get_varint(b"\x80\x80", 0, 2, "v")
    writer = BitWriter()
    for v in values:
        writer.ue(v)
    reader = BitReader(writer.getvalue())
    assert [reader.ue("v") for _ in values] == values
    with pytest.raises(MessageError, match="f: needs 9 bits, 0 left"):
        BitReader(b"").fields(3, 3, "f")
    with pytest.raises(MessageError, match="u: 2 unary values announced, 1 found"):
        BitReader(b"\xfe").unary(2, "u")


def test_golomb_cost_is_exact_and_parameter_near_optimal() -> None:
    rng = np.random.default_rng(0)
    runs = rng.geometric(0.01, 5000) - 1
    for m in (1, 2, 3, 64, 69, 100):
        writer = BitWriter()
        write_golomb(writer, runs, m)
        assert len(writer.getvalue()) == (golomb_cost(runs, m) + 7) // 8
    m = best_parameter(runs)
    assert golomb_cost(runs, m) <= min(golomb_cost(runs, c) for c in range(40, 110))


def test_huffman_lengths_are_complete_and_limited() -> None:
    fib = np.array(
        [
            1,
            1,
            2,
            3,
            5,
            8,
            13,
            21,
            34,
            55,
            89,
            144,
            233,
            377,
            610,
            987,
            1597,
            2584,
            4181,
            6765,
            10946,
            17711,
            28657,
            46368,
        ]
    )
    unlimited = huffman_lengths(fib)
    assert unlimited.max() > 8
    assert np.sum(2.0**-unlimited) == 1.0  # a Huffman code is complete
    limited = huffman_lengths(fib, limit=8)
    assert limited.max() <= 8 and np.sum(2.0**-limited) <= 1.0
    assert huffman_lengths(np.array([5])).tolist() == [1]


def test_canonical_table_decodes_every_code() -> None:
    symbols = np.array([3, 7, 9, 20])
    lengths = np.array([2, 1, 3, 3])
    codes, table_sym, table_len = canonical(symbols, lengths)
    assert codes.tolist() == [0b10, 0b0, 0b110, 0b111]
    for symbol, code, length in zip(symbols, codes, lengths):
        window = code << (3 - length)
        assert table_sym[window] == symbol and table_len[window] == length


def _structured_mask(shape=(24, 50), density=0.05) -> np.ndarray:
    magnitude = structured(shape, 3).abs()
    mask = np.zeros(magnitude.numel(), dtype=bool)
    mask[top_k(magnitude.reshape(-1), int(density * magnitude.numel())).numpy()] = True
    return mask.reshape(shape)


@pytest.mark.parametrize("model", range(context.N_POSITION_MODELS))
def test_every_context_position_model_roundtrips(model: int) -> None:
    # Prepare
    mask = _structured_mask()
    encoder = constriction.stream.queue.RangeEncoder()
    # Execute
    grouped = model < len(context.GROUPINGS)
    alpha = None if grouped else context.ALPHAS[model - len(context.GROUPINGS)]
    if grouped:
        matrix = context._grouped(mask.reshape(-1), mask.shape, model)
        context._encode_grouped(encoder, matrix)
    else:
        context._encode_adaptive(encoder, mask, alpha)
    decoder = constriction.stream.queue.RangeDecoder(encoder.get_compressed())
    if grouped:
        got = context._ungrouped(context._decode_grouped(decoder, matrix.shape, int(mask.sum())), model)
    else:
        got = context._decode_adaptive(decoder, mask.shape, int(mask.sum()), alpha)
    # Assert
    assert np.array_equal(got.reshape(mask.shape), mask)


def test_adaptive_cost_estimate_tracks_the_real_size() -> None:
    mask = _structured_mask((64, 200), 0.01)
    for alpha, estimate in zip(context.ALPHAS, context._adaptive_costs(mask)):
        encoder = constriction.stream.queue.RangeEncoder()
        context._encode_adaptive(encoder, mask, alpha)
        assert estimate == pytest.approx(encoder.num_bits(), rel=0.03, abs=64)
