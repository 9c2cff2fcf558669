"""The uniform stage's kernel DCT: convolution kernels coded as orthonormal DCT coefficients."""

import dataclasses

import numpy as np
import pytest
import torch
from codec_checks import EXAMPLES, hashed, squared_error, with_crc

from resfed.codec import MessageContext, MessageError, UniformCodec, layout_of
from resfed.codec.formats import kernel_dct

EXAMPLE = next(e for e in EXAMPLES["uniform"] if e.name == "conv_bpe0.5_dct")


@pytest.mark.parametrize("kernel", [(3, 3), (5, 5), (3,), (1, 2), (2, 3, 2)])
def test_the_basis_is_orthonormal_with_the_kernel_mean_first(kernel):
    basis = kernel_dct.basis(kernel)
    n = basis.shape[0]
    assert basis.shape == (n, np.prod(kernel))
    np.testing.assert_allclose(basis @ basis.T, np.eye(n), atol=1e-6)
    np.testing.assert_allclose(basis[0], np.full(n, 1 / np.sqrt(n)), rtol=1e-6)


def test_forward_and_inverse_round_trip_and_keep_energy():
    shape = (6, 4, 3, 3)
    values = hashed(shape, 3).numpy().reshape(-1)
    coefficients = kernel_dct.forward(values, shape)
    assert kernel_dct.coded_shape(shape) == (54, 4)
    np.testing.assert_allclose(kernel_dct.inverse(coefficients, shape), values, atol=1e-6)
    assert np.dot(coefficients, coefficients) == pytest.approx(np.dot(values, values), rel=1e-6)
    # a kernel of equal entries is one coefficient: the first plane, at its (out, in) place
    ones = np.zeros(shape, np.float32)
    ones[2, 1] = 1.0
    planes = kernel_dct.forward(ones.reshape(-1), shape).reshape(9, 6, 4)
    assert planes[0, 2, 1] == pytest.approx(3.0) and np.abs(planes).sum() == pytest.approx(3.0, rel=1e-6)


@pytest.mark.parametrize("shape", [(10, 20), (7,), (4, 3, 1, 1)])
def test_tensors_without_kernels_are_left_as_they_are(shape):
    values = hashed(shape, 4).numpy().reshape(-1)
    assert kernel_dct.coded_shape(shape) == shape
    assert kernel_dct.forward(values, shape) is values and kernel_dct.inverse(values, shape) is values


def test_kernels_that_move_together_cost_less_error_at_the_same_budget():
    # The example's convolution: each kernel's entries share a sign and a scale
    twin = dataclasses.replace(EXAMPLE.codec, kernel_dct=False)
    data, plain = EXAMPLE.encode(), twin.encode(EXAMPLE.payload, EXAMPLE.context)
    budget = EXAMPLE.codec.bits_per_entry * sum(v.numel() for v in EXAMPLE.payload.values()) / 8
    assert EXAMPLE.codec.kind == twin.kind + 12
    assert len(data) <= budget + 64 and len(plain) <= budget + 64
    conv = {"conv.weight": EXAMPLE.payload["conv.weight"]}
    assert squared_error(conv, EXAMPLE.decode(data)) < 0.5 * squared_error(conv, twin.decode(plain, EXAMPLE.context))


def test_a_state_without_kernels_is_coded_as_without_the_option():
    state = {"fc.weight": hashed((10, 20), 5), "fc.bias": hashed((10,), 6)}
    context = MessageContext(layout_of(state), 3, 3)
    with_dct, without = UniformCodec(0.5, kernel_dct=True), UniformCodec(0.5)
    data, plain = with_dct.encode(state, context), without.encode(state, context)
    assert len(data) == len(plain)
    decoded, reference = with_dct.decode(data, context), without.decode(plain, context)
    assert all(torch.equal(decoded[k], reference[k]) for k in state)


def test_coefficients_whose_inverse_overflows_are_a_message_error():
    # Prepare: one entry per kernel, at its centre: its largest coefficient is 2/3 of it
    shape = (2, 1, 3, 3)
    single = torch.zeros(shape)
    single[:, :, 1, 1] = 1.0
    payload = {"conv.weight": single}
    context = MessageContext(layout_of(payload), 3, 3)
    codec = UniformCodec(16, kernel_dct=True)
    data = codec.encode(payload, context)
    step = codec.step([(kernel_dct.forward(single.numpy().reshape(-1), shape), kernel_dct.coded_shape(shape))])
    assert data.count(step.tobytes()) == 1
    # Execute: the same levels at a step 4e38 times as large: finite coefficients, entries of 4e38
    big = np.float32(float(step) * 4e38)
    tampered = with_crc(data[:-4].replace(step.tobytes(), big.tobytes()))
    # Assert
    with pytest.raises(MessageError, match="inverse kernel DCT overflows"):
        codec.decode(tampered, context)


@pytest.mark.parametrize(
    "options",
    [{"scope": "tensor"}, {"trellis": True}, {"centroids": True}, {"coder": "kernel"}, {"prediction_gain": True}],
    ids=lambda o: next(iter(o)),
)
def test_the_dct_combines_with_every_other_option(options):
    # Prepare: the example's state, and its predicted update where the gain needs one
    update = {k: hashed(tuple(v.shape), 30 + i) for i, (k, v) in enumerate(EXAMPLE.payload.items())}
    context = dataclasses.replace(EXAMPLE.context, shared=update if options.get("prediction_gain") else None)
    codec = UniformCodec(1.0, kernel_dct=True, **options)
    twin = dataclasses.replace(codec, kernel_dct=False)
    # Execute
    data, plain = codec.encode(EXAMPLE.payload, context), twin.encode(EXAMPLE.payload, context)
    decoded = codec.decode(data, context)
    # Assert: its own frame kind, within the budget, and less error than without the DCT
    assert codec.kind == twin.kind + 12 and codec.kind in range(16, 28)
    assert len(data) <= codec.bits_per_entry * sum(v.numel() for v in EXAMPLE.payload.values()) / 8 + 64
    assert squared_error(EXAMPLE.payload, decoded) < squared_error(EXAMPLE.payload, twin.decode(plain, context))
