"""CodecConfig validation and serialisation; layouts and their digest."""

from __future__ import annotations

import pytest
import torch

from resfed.codec import CodecConfig, TensorSpec, layout_of
from resfed.codec.coders import DEFAULT_CODER
from resfed.codec.layout import layout_digest


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(sparsity=1.0), "CodecConfig.sparsity must be a number in [0, 1)"),
        (dict(sparsity=-0.1), "CodecConfig.sparsity"),
        (dict(sparsity=float("nan")), "CodecConfig.sparsity"),
        (dict(sparsity=True), "CodecConfig.sparsity"),
        (dict(sparsity="0.9"), "CodecConfig.sparsity"),
        (dict(bits=8), "CodecConfig.bits must be one of (1, 32), got 8"),
        (dict(scope="layer"), "CodecConfig.scope must be one of ('tensor', 'global')"),
        (dict(reconstruction="max"), "CodecConfig.reconstruction must be one of"),
        (dict(coder="zstd"), "CodecConfig.coder must be one of ('huffman', 'golomb', 'ans', 'context', 'kernel')"),
    ],
)
def test_invalid_config_names_field_and_choices(kwargs, fragment) -> None:
    with pytest.raises(ValueError) as info:
        CodecConfig(**kwargs)
    assert fragment in str(info.value)


def test_defaults_lossless_and_dict_roundtrip() -> None:
    config = CodecConfig(sparsity=0.0, bits=32)
    assert config.lossless and CodecConfig().coder == DEFAULT_CODER == "context"
    assert not CodecConfig(sparsity=0.5).lossless and not CodecConfig(bits=1).lossless
    lossy = CodecConfig(sparsity=0.99, bits=1, scope="global", reconstruction="mean", coder="golomb")
    assert CodecConfig.from_dict(lossy.to_dict()) == lossy
    assert lossy.to_dict() == dict(
        sparsity=0.99, bits=1, scope="global", reconstruction="mean", coder="golomb"
    )
    assert CodecConfig(sparsity=0).sparsity == 0.0 and isinstance(CodecConfig(sparsity=0).sparsity, float)
    with pytest.raises(ValueError, match="unknown keys \\['spars'\\]"):
        CodecConfig.from_dict({"spars": 0.5})


def test_layout_of_keeps_order_and_digest_detects_changes() -> None:
    state = {"b": torch.zeros(3), "a": torch.zeros(2, 2, dtype=torch.float64), "n": torch.tensor(1)}
    layout = layout_of(state)
    assert [s.name for s in layout] == ["b", "a", "n"]
    assert layout[1] == TensorSpec("a", torch.float64, (2, 2)) and layout[1].numel == 4
    assert layout[2].shape == () and layout[2].numel == 1 and not layout[2].is_float
    digest = layout_digest(layout)
    assert digest == layout_digest(layout_of(dict(state)))
    assert digest != layout_digest(layout_of({**state, "b": torch.zeros(4)}))
    assert digest != layout_digest(layout_of({"a": state["a"], "b": state["b"], "n": state["n"]}))


def test_unsupported_dtype() -> None:
    with pytest.raises(ValueError, match="unsupported dtype"):
        layout_of({"c": torch.zeros(2, dtype=torch.complex64)})
