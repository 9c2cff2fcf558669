"""QSGD's message: unbiased stochastic levels, the norms, real bytes, and its bad inputs."""

import zlib

import numpy as np
import pytest
import torch

from resfed.codec import MessageContext, MessageError, QSGDCodec, layout_of

STATE = {"w": torch.linspace(-1, 1, 1000).reshape(20, 50), "b": torch.zeros(5), "n": torch.tensor(3)}
LAYOUT = layout_of(STATE)
CONTEXT = MessageContext(LAYOUT, 8, 2)


@pytest.mark.parametrize("levels", [1, 4, 64])
def test_every_entry_is_a_level_of_the_norm(levels):
    # Execute
    out = QSGDCodec(levels).decode(QSGDCodec(levels).encode(STATE, CONTEXT), CONTEXT)
    # Assert: values are norm * l / s with |l| <= s and the sign of the input; zeros stay zero
    norm = float(np.linalg.norm(STATE["w"].numpy().astype(np.float64)))
    level = out["w"].numpy() / np.float32(norm) * levels
    np.testing.assert_allclose(level, np.round(level), atol=1e-3)
    assert np.abs(level).max() <= levels + 1e-3
    assert (np.sign(out["w"]) * np.sign(STATE["w"]) >= 0).all()
    assert out["b"].abs().sum() == 0 and out["n"].item() == 3


def test_quantisation_is_unbiased():
    codec, values = QSGDCodec(2), np.full(20_000, 0.3, dtype=np.float32)
    norm, levels = codec.quantise(values, round_index=1)
    mean = (norm * levels / 2).mean()
    assert mean == pytest.approx(0.3, abs=4 * norm / 2 / np.sqrt(values.size))


def test_the_same_payload_gives_the_same_bytes_and_others_differ():
    codec = QSGDCodec(4)
    assert codec.encode(STATE, CONTEXT) == codec.encode(STATE, CONTEXT)
    assert codec.encode(STATE, CONTEXT) != codec.encode(STATE, MessageContext(LAYOUT, 8, 3))


def test_fewer_levels_cost_fewer_bytes():
    sizes = [len(QSGDCodec(s).encode(STATE, CONTEXT)) for s in (1, 4, 64)]
    assert sizes == sorted(sizes) and sizes[0] < 1000 * 4 / 8


def test_a_negative_norm_is_refused():
    # Prepare: flip the sign bit of w's norm and recompute the CRC
    data = bytearray(QSGDCodec(4).encode(STATE, CONTEXT))
    norm = np.float32(np.linalg.norm(STATE["w"].numpy().astype(np.float64))).tobytes()
    at = bytes(data).index(norm)
    data[at + 3] ^= 0x80
    data[-4:] = zlib.crc32(bytes(data[:-4])).to_bytes(4, "little")
    # Execute / Assert
    with pytest.raises(MessageError, match="negative norm"):
        QSGDCodec(4).decode(bytes(data), CONTEXT)
    with pytest.raises(ValueError, match="levels"):
        QSGDCodec(0)
