"""decode(encode(x)) is exactly the reference top-k + quantiser, for every coder and edge case."""

from __future__ import annotations

import pytest
import torch
from codec_checks import ALL_CODERS, bits_equal, check_roundtrip, hashed, structured

from resfed.codec import CodecConfig, decode, encode, layout_of

CASES = {
    "random": lambda: {"w": hashed((12, 30), 1), "b": hashed((30,), 2)},
    "all_zero": lambda: {"w": torch.zeros(4, 5), "b": torch.zeros(3)},
    "single_element": lambda: {"w": torch.tensor([0.7]), "s": torch.tensor(-1.5)},
    "smaller_than_1_over_density": lambda: {"w": hashed((3,), 3), "v": hashed((2, 2), 4)},
    "ties": lambda: {"w": torch.tensor([[1.0, -1.0, 1.0], [-1.0, 0.5, -0.5], [1.0, 1.0, -1.0]])},
    "mostly_zero": lambda: {"w": torch.tensor([0.0, 0.0, 3.0, 0.0, -2.0, 0.0, 0.0, 0.0])},
    "one_sign": lambda: {"pos": hashed((6, 7), 5).abs(), "neg": -hashed((40,), 6).abs()},
    "float_and_int": lambda: {
        "conv.weight": hashed((8, 3, 3, 3), 7),
        "bn.num_batches_tracked": torch.tensor(12345678901, dtype=torch.int64),
        "ids": torch.tensor([[1, -2], [3, 4]], dtype=torch.int32),
        "flags": torch.tensor([True, False]),
        "bn.running_mean": hashed((8,), 8),
    },
    "empty_tensor": lambda: {"e": torch.zeros(0), "w": hashed((5,), 9)},
    "structured": lambda: {"fc.weight": structured((40, 60), 0), "fc.bias": hashed((40,), 10)},
    "half_precision": lambda: {"h": hashed((4, 4), 11).half(), "bf": hashed((3,), 12).bfloat16()},
}
SPARSITIES = (0.0, 0.5, 0.99, 0.999)
QUANTISERS = (
    dict(bits=32),
    dict(bits=1),
    dict(bits=1, reconstruction="mean"),
    dict(bits=1, reconstruction="median_zeroing"),
    dict(bits=1, scope="global"),
    dict(bits=32, scope="global"),
)


@pytest.mark.parametrize("coder", ALL_CODERS)
@pytest.mark.parametrize("case", CASES)
def test_roundtrip_matches_reference(case: str, coder: str) -> None:
    # Prepare
    state = CASES[case]()
    for sparsity in SPARSITIES:
        for quantiser in QUANTISERS:
            config = CodecConfig(sparsity=sparsity, coder=coder, **quantiser)
            # Execute / Assert (bit-identical to the reference, deterministic bytes)
            check_roundtrip(state, config)


@pytest.mark.parametrize("coder", ALL_CODERS)
def test_long_zero_runs_need_escapes(coder: str) -> None:
    # Prepare: runs far above 65535 (the paper's 16-bit run symbols must escape)
    w = torch.zeros(300_000)
    w[[0, 70_000, 299_999]] = torch.tensor([1.0, -2.0, 3.0])
    # Execute / Assert
    for sparsity in (0.0, 0.99999):
        check_roundtrip({"w": w}, CodecConfig(sparsity=sparsity, bits=1, coder=coder))


def test_lossless_is_bit_exact() -> None:
    # Prepare: signed zeros, subnormals, extremes
    tiny = torch.tensor([1e-45, -1e-45, 1e-40], dtype=torch.float32)
    w = torch.cat([torch.tensor([0.0, -0.0, 3.4e38, -3.4e38, 1.0]), tiny, hashed((100,), 13)])
    state = {"w": w, "n": torch.tensor(3)}
    config = CodecConfig(sparsity=0.0, bits=32)
    # Execute
    data = check_roundtrip(state, config)
    _, out = decode(data, layout_of(state))
    # Assert
    assert config.lossless
    assert bits_equal(out["w"], w)
    assert len(data) < 4 * w.numel() + 8 + 40  # raw float32 plus framing


def test_sender_and_receiver_decode_identically() -> None:
    # Prepare
    state = {"w": structured((30, 20), 1)}
    layout = layout_of(state)
    data = encode(state, layout, CodecConfig(sparsity=0.9, bits=1), method_id=1, round_index=1)
    # Execute
    sender = decode(data, layout)[1]
    receiver = decode(bytes(bytearray(data)), layout)[1]
    # Assert
    assert bits_equal(sender["w"], receiver["w"])


def test_decode_returns_float32_cpu_and_layout_shapes() -> None:
    # Prepare
    state = {"h": hashed((2, 3), 1).half(), "i": torch.tensor([1, 2], dtype=torch.int16)}
    layout = layout_of(state)
    # Execute
    _, out = decode(encode(state, layout, CodecConfig(0.5, 1), method_id=0, round_index=0), layout)
    # Assert
    assert out["h"].dtype == torch.float32 and out["h"].shape == (2, 3) and out["h"].device.type == "cpu"
    assert out["i"].dtype == torch.int16 and out["i"].tolist() == [1, 2]


def test_sparsity_zero_one_bit_codes_signs_only() -> None:
    # Prepare: every entry kept, so positions cost nothing
    state = {"w": hashed((50, 50), 2)}
    # Execute
    data = check_roundtrip(state, CodecConfig(sparsity=0.0, bits=1))
    # Assert: about one bit per entry plus framing
    assert len(data) < 2500 / 8 + 60
