"""Coded sizes against the information bound; the report's bookkeeping."""

from __future__ import annotations

import math

import pytest
import torch
from codec_checks import ALL_CODERS, hashed, structured

from resfed.codec import CodecConfig, encode, layout_of, size_report
from resfed.codec.bounds import log2_binomial, tensor_bound_bits
from resfed.codec.sparsify import keep_count

LENET = {
    "conv1.weight": (6, 1, 5, 5),
    "conv1.bias": (6,),
    "conv2.weight": (16, 6, 5, 5),
    "conv2.bias": (16,),
    "fc1.weight": (120, 400),
    "fc1.bias": (120,),
    "fc2.weight": (84, 120),
    "fc2.bias": (84,),
    "fc3.weight": (10, 84),
    "fc3.bias": (10,),
}
N = sum(math.prod(s) for s in LENET.values())


def lenet(make) -> dict[str, torch.Tensor]:
    return {name: make(shape, i) for i, (name, shape) in enumerate(LENET.items())}


def uniform(shape, seed):
    return hashed(shape, seed)


def realistic(shape, seed):
    return (
        structured((shape[0], math.prod(shape[1:])), seed).reshape(shape)
        if len(shape) > 1
        else hashed(shape, seed)
    )


def report(state, **config):
    layout, config = layout_of(state), CodecConfig(**config)
    return size_report(encode(state, layout, config, method_id=1, round_index=1), state, layout, config)


def test_bound_reproduces_the_uniform_position_estimates() -> None:
    assert N == 61706
    per_tensor = sum(
        tensor_bound_bits(math.prod(s), keep_count(math.prod(s), 0.99), 1) for s in LENET.values()
    )
    k = keep_count(N, 0.99)
    one_threshold_one_pair = log2_binomial(N, k) + k + 64
    assert 32 * N / per_tensor == pytest.approx(315, rel=0.01)
    assert 32 * N / one_threshold_one_pair == pytest.approx(348, rel=0.01)
    assert log2_binomial(10, 3) == pytest.approx(math.log2(120))


@pytest.mark.parametrize(
    "coder, within", [("context", 1.07), ("ans", 1.07), ("golomb", 1.08), ("huffman", 1.50)]
)
def test_near_bound_on_uniform_positions_with_framing(coder: str, within: float) -> None:
    r = report(lenet(uniform), sparsity=0.99, bits=1, coder=coder)
    assert r["coded_bytes"] <= within * r["bound_bytes"]


def test_huffman_pays_for_its_table() -> None:
    r = report(lenet(uniform), sparsity=0.99, bits=1, coder="huffman")
    assert r["coded_bytes"] > 1.3 * r["bound_bytes"]


def test_context_beats_the_bound_and_every_coder_on_structured_residuals() -> None:
    state = lenet(realistic)
    sizes = {c: report(state, sparsity=0.99, bits=1, coder=c)["coded_bytes"] for c in ALL_CODERS}
    bound = report(state, sparsity=0.99, bits=1)["bound_bytes"]
    assert sizes["context"] < 0.9 * bound
    assert sizes["context"] == min(sizes.values())


def test_report_bookkeeping() -> None:
    state = {**lenet(uniform), "bn.num_batches_tracked": torch.tensor(3)}
    r = report(state, sparsity=0.99, bits=1)
    tensors = r["tensors"]
    assert r["dense_bytes"] == 4 * N + 8
    assert r["header_and_crc_bytes"] == 15 + 1 + 4
    assert r["coded_bytes"] == r["header_and_crc_bytes"] + r["stream_bytes"] + sum(
        t["table_and_payload_bytes"] for t in tensors.values()
    )
    assert r["compression"] == r["dense_bytes"] / r["coded_bytes"]
    assert tensors["fc1.weight"]["kept"] == 480 and tensors["bn.num_batches_tracked"]["bound_bytes"] == 8
    assert r["bound_bytes"] == pytest.approx(sum(t["bound_bytes"] for t in tensors.values()))


def test_report_refuses_a_message_of_another_config() -> None:
    state = lenet(uniform)
    layout = layout_of(state)
    data = encode(state, layout, CodecConfig(sparsity=0.99, bits=1), method_id=1, round_index=1)
    with pytest.raises(ValueError, match="not the message of this state"):
        size_report(data, state, layout, CodecConfig(sparsity=0.9, bits=1))


def test_lossless_costs_raw_size_plus_framing() -> None:
    r = report(lenet(uniform), sparsity=0.0, bits=32)
    assert r["bound_bytes"] == 4 * N
    assert r["coded_bytes"] - 4 * N < 60
