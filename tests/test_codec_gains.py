"""The uniform stage's prediction gains: a factor per tensor on the link's predicted update."""

import dataclasses

import numpy as np
import pytest
import torch
from codec_checks import EXAMPLES, hashed, squared_error

from resfed.codec import MessageContext, MessageError, layout_of
from resfed.codec.formats import gains

EXAMPLE = next(e for e in EXAMPLES["uniform"] if e.name == "bpe0.5_gain")


def test_fitted_is_the_least_squares_factor_quantised():
    update = hashed((50, 20), 1).numpy().reshape(-1)
    noise = hashed((50, 20), 2, scale=0.01).numpy().reshape(-1)
    assert gains.fitted(-0.7 * update + noise, update) == round(-0.7 * gains.GAIN_SCALE)
    assert gains.fitted(update * 5, update) == 127  # clipped to the byte's range
    assert gains.gain(-45) == np.float32(-45 / 64)


def test_an_overshooting_prediction_costs_less_error_at_the_same_budget():
    # The example's payload holds -0.7 times its predicted update, plus an independent residual
    twin = dataclasses.replace(EXAMPLE.codec, prediction_gain=False)
    data, plain = EXAMPLE.encode(), twin.encode(EXAMPLE.payload, EXAMPLE.context)
    budget = EXAMPLE.codec.bits_per_entry * sum(v.numel() for v in EXAMPLE.payload.values() if v.is_floating_point()) / 8
    assert EXAMPLE.codec.kind == twin.kind + 6
    assert len(data) <= budget + 64 and len(plain) <= budget + 64
    assert squared_error(EXAMPLE.payload, EXAMPLE.decode(data)) < 0.5 * squared_error(EXAMPLE.payload, twin.decode(plain, EXAMPLE.context))


def test_a_tensor_without_a_predicted_update_gets_no_byte_and_the_same_levels():
    # Prepare: every predicted update zero: no gains at all
    zero = {k: torch.zeros_like(v) for k, v in EXAMPLE.payload.items()}
    context = dataclasses.replace(EXAMPLE.context, shared=zero)
    twin = dataclasses.replace(EXAMPLE.codec, prediction_gain=False)
    # Execute
    with_gain, without = EXAMPLE.codec.encode(EXAMPLE.payload, context), twin.encode(EXAMPLE.payload, context)
    # Assert: one empty section more (its length), the same values
    assert 0 < len(with_gain) - len(without) <= 2
    decoded, reference = EXAMPLE.codec.decode(with_gain, context), twin.decode(without, context)
    assert all(torch.equal(decoded[k], reference[k]) for k in reference)


def test_decoding_with_another_predicted_update_gives_other_values_not_an_error():
    data = EXAMPLE.encode()
    other = {k: 2 * v for k, v in EXAMPLE.context.shared.items()}
    decoded = EXAMPLE.codec.decode(data, dataclasses.replace(EXAMPLE.context, shared=other))
    assert not torch.equal(decoded["conv.weight"], EXAMPLE.decode(data)["conv.weight"])


def test_a_missing_predicted_update_is_a_clear_error():
    layout = layout_of(EXAMPLE.payload)
    with pytest.raises(ValueError, match="prediction_gain"):
        EXAMPLE.codec.encode(EXAMPLE.payload, MessageContext(layout, 3, 3))
    partial = {k: v for k, v in EXAMPLE.context.shared.items() if k != "fc.weight"}
    with pytest.raises(ValueError, match="'fc.weight'"):
        EXAMPLE.codec.encode(EXAMPLE.payload, MessageContext(layout, 3, 3, shared=partial))


def test_a_gains_section_of_the_wrong_length_is_a_message_error():
    updates = [np.ones(3, np.float32), np.zeros(2, np.float32), np.ones(4, np.float32)]
    assert gains.read(memoryview(bytes([0xD3, 5])), updates) == [-45, 0, 5]
    for section in (b"", b"\x01", b"\x01\x02\x03"):
        with pytest.raises(MessageError, match="gains section"):
            gains.read(memoryview(section), updates)
