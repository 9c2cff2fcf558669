"""FedPM's message codecs: masks under one bit per entry, counts helped by their context."""

import pytest
import torch

from resfed.codec import CountsCodec, MaskCodec, MessageContext, MessageError, PosteriorCounts, layout_of

SHAPES = {"a.weight": (200, 150), "a.bias": (200,)}


def thetas(seed: int = 0, low: float = 0.0, high: float = 1.0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {n: low + (high - low) * torch.rand(s, generator=generator) for n, s in SHAPES.items()}


def sampled(theta: dict, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.bernoulli(t, generator=generator) for name, t in theta.items()}


@pytest.mark.parametrize("model", ["global", "tensor"])
def test_mask_message_round_trip_under_one_bit_per_entry(model):
    # Prepare: masks sampled near the theta the receiver knows (a client's first steps)
    held = thetas(0, 0.02, 0.98)
    mask = sampled(held, 1)
    context = MessageContext(layout_of(mask), method_id=6, round_index=5, shared=held)
    n = sum(m.numel() for m in mask.values())
    # Execute
    data = MaskCodec(model).encode(mask, context)
    out = MaskCodec("global").decode(data, context)
    # Assert
    assert all(torch.equal(out[k], mask[k]) for k in mask)
    assert 8 * len(data) < (0.8 if model == "global" else 1.01) * n  # mean H(theta) ~ 0.72 bits


def test_count_message_round_trip_and_its_context_model_helps():
    held = thetas(2)
    ones = {k: torch.binomial(torch.full_like(t, 10.0), t, generator=torch.Generator().manual_seed(3)).long()
            for k, t in held.items()}
    context = MessageContext(layout_of(ones), method_id=6, round_index=2, shared=held)
    data = CountsCodec().encode(PosteriorCounts(ones, 10), context)
    out, trials = CountsCodec().decode(data, context)
    assert trials == 10 and all(torch.equal(out[k], ones[k]) for k in ones)
    uninformed = MessageContext(context.layout, 6, 2, shared={k: torch.full_like(t, 0.5) for k, t in held.items()})
    assert len(data) < 0.8 * len(CountsCodec().encode(PosteriorCounts(ones, 10), uninformed))


def test_bad_messages_raise():
    held = thetas(0)
    mask = sampled(held, 1)
    context = MessageContext(layout_of(mask), method_id=6, round_index=1, shared=held)
    data = MaskCodec("global").encode(mask, context)
    with pytest.raises(MessageError, match="CRC32"):
        MaskCodec("global").decode(data[:30] + bytes([data[30] ^ 4]) + data[31:], context)
    with pytest.raises(MessageError, match="expected"):
        CountsCodec().decode(data, context)  # a mask is not a counts message


def test_a_global_model_needs_the_shared_theta():
    mask = sampled(thetas(0), 1)
    with pytest.raises(ValueError, match="MessageContext.shared"):
        MaskCodec("global").encode(mask, MessageContext(layout_of(mask), method_id=6, round_index=1))
