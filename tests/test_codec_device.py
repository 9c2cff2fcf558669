"""The lossy stages run where the state lives: only O(k) values cross to the host.

On a CPU the host copies are counted by wrapping ``Tensor.cpu`` (the codec's only way to
the host: ``.numpy()`` fails on a GPU tensor). Where CUDA exists, a GPU state must give
the same bytes as the same state on the CPU, and decoding onto the GPU the same tensors.
"""

from __future__ import annotations

import pytest
import torch
from codec_checks import bits_equal, hashed, structured

from resfed.codec import CodecConfig, decode, encode, layout_of

CONFIGS = (
    CodecConfig(0.99, 1),
    CodecConfig(0.9, 1, reconstruction="mean"),
    CodecConfig(0.9, 1, reconstruction="median_zeroing", scope="global"),
    CodecConfig(0.95, 32),
    CodecConfig(0.0, 32),
)


def _state() -> dict[str, torch.Tensor]:
    return {
        "conv.weight": hashed((16, 8, 5, 5), 1),
        "fc.weight": structured((120, 200), 2),
        "fc.bias": hashed((120,), 3),
        "bn.num_batches_tracked": torch.tensor(42, dtype=torch.int64),
    }


def test_encode_copies_only_kept_entries_to_the_host(monkeypatch) -> None:
    # Prepare
    state = _state()
    layout = layout_of(state)
    copied: list[int] = []
    to_host = torch.Tensor.cpu

    def counting_cpu(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        copied.append(tensor.numel())
        return to_host(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "cpu", counting_cpu)
    # Execute
    encode(state, layout, CodecConfig(0.99, 1), method_id=1, round_index=1)
    # Assert: positions + signs of the 1 % kept, and the 1-element counter sent raw
    model_size = sum(t.numel() for t in state.values())
    assert copied and sum(copied) <= 2 * 0.01 * model_size + len(state) * 2


def test_decode_builds_tensors_on_the_requested_device() -> None:
    # Prepare
    state = _state()
    layout = layout_of(state)
    data = encode(state, layout, CodecConfig(0.9, 1), method_id=1, round_index=1)
    # Execute
    _, default = decode(data, layout)
    _, explicit = decode(data, layout, device=torch.device("cpu"))
    # Assert
    for name in state:
        assert explicit[name].device.type == "cpu" and bits_equal(explicit[name], default[name])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_gpu_state_gives_the_cpu_bytes_and_decodes_on_the_gpu(config: CodecConfig) -> None:
    # Prepare
    state = _state()
    layout = layout_of(state)
    on_gpu = {name: t.cuda() for name, t in state.items()}
    # Execute
    cpu_bytes = encode(state, layout, config, method_id=1, round_index=1)
    gpu_bytes = encode(on_gpu, layout, config, method_id=1, round_index=1)
    _, on_cpu = decode(gpu_bytes, layout)
    _, on_device = decode(gpu_bytes, layout, device="cuda")
    # Assert
    assert gpu_bytes == cpu_bytes
    for name in state:
        assert on_device[name].device.type == "cuda"
        assert bits_equal(on_device[name].cpu(), on_cpu[name])
