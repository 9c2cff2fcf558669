"""Committed bitstreams: any change of the format (or of a coder's output) fails here.

Regenerate on purpose only: ``RESFED_REGEN_GOLDEN=1 pytest tests/test_codec_golden.py``,
and bump FORMAT_VERSION when old messages can no longer be read.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from codec_checks import bits_equal, hashed, reference

from resfed.codec import FORMAT_VERSION, CodecConfig, decode, encode, layout_of

FIXTURES = Path(__file__).parent / "fixtures" / "codec"
REGEN = os.environ.get("RESFED_REGEN_GOLDEN") == "1"
STATE = {
    "conv.weight": hashed((4, 3, 3, 3), 1),
    "conv.bias": hashed((4,), 2),
    "bn.num_batches_tracked": torch.tensor(12, dtype=torch.int64),
    "fc.weight": hashed((10, 36), 3, scale=0.01),
    "fc.bias": hashed((10,), 4).abs(),
    # exact power-of-two row and column scales: some columns far more active, so the
    # context coder picks its adaptive model here
    "head.weight": hashed((16, 64), 5)
    * torch.tensor([2.0 ** -(i * 3 % 4) for i in range(16)])[:, None]
    * torch.tensor([2.0 ** -(j * 5 % 8) for j in range(64)]),
}
CONFIGS = {
    "lossless": CodecConfig(sparsity=0.0, bits=32),
    "f32_s50_golomb": CodecConfig(sparsity=0.5, bits=32, coder="golomb"),
    **{
        f"sign_s90_{c}": CodecConfig(sparsity=0.9, bits=1, coder=c)
        for c in ("huffman", "golomb", "ans", "context")
    },
    "sign_s0_context": CodecConfig(sparsity=0.0, bits=1),
    "global_mean_context": CodecConfig(sparsity=0.95, bits=1, scope="global", reconstruction="mean"),
    "zeroing_context": CodecConfig(sparsity=0.8, bits=1, reconstruction="median_zeroing"),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_golden_bitstream(name: str) -> None:
    path = FIXTURES / f"v{FORMAT_VERSION}_{name}.bin"
    layout = layout_of(STATE)
    data = encode(STATE, layout, CONFIGS[name], method_id=4, round_index=2)
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    golden = path.read_bytes()
    assert data == golden, (
        f"{name}: encoder output changed ({len(data)} vs {len(golden)} bytes); see module docstring"
    )
    header, out = decode(golden, layout, expected_method=4, expected_round=2)
    assert header.version == FORMAT_VERSION
    expected = reference(STATE, CONFIGS[name])
    assert all(bits_equal(out[k], expected[k]) for k in expected)
