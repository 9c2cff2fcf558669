"""The dead-zone uniform stage: error bounds per entry, the bit budget, and its bad inputs."""

import dataclasses
import zlib

import numpy as np
import pytest
import torch
from codec_checks import structured

from resfed.codec import MessageContext, MessageError, UniformCodec, layout_of
from resfed.codec.frame import FrameHeader, pack_frame, unpack_frame
from resfed.codec.formats.uniform import CENTROID_MIN, CENTROID_SCALE, KINDS, level_bits

STATE = {
    "fc.weight": structured((40, 60), 1) * 1e-3,
    "fc.bias": structured((1, 40), 2).reshape(40) * 1e-3,
    "zero": torch.zeros(7),
    "n": torch.tensor(3),
}
LAYOUT = layout_of(STATE)
CONTEXT = MessageContext(LAYOUT, 3, 2)


def _roundtrip(codec):
    data = codec.encode(STATE, CONTEXT)
    return data, codec.decode(data, CONTEXT)


KIND = KINDS[False]  # the default's frame kind (levels at their bins' midpoints)


def _steps(data, kind=KIND):
    """The steps a message sends: one for the state (global) or one per float tensor."""
    return np.frombuffer(unpack_frame(data, LAYOUT, FrameHeader(3, kind, 2), max_sections=5)[0], "<f4").tolist()


@pytest.mark.parametrize("centroids", [False, True])
@pytest.mark.parametrize("rate_distortion", [True, False])
@pytest.mark.parametrize("scope", ["global", "tensor"])
@pytest.mark.parametrize("dead_zone", [0.5, 0.75, 1.5])
@pytest.mark.parametrize("bits", [0.3, 1.0, 4.0])
def test_every_entry_is_within_its_bound(bits, dead_zone, scope, rate_distortion, centroids):
    # Execute
    codec = UniformCodec(bits, dead_zone, scope, rate_distortion, centroids)
    data, out = _roundtrip(codec)
    steps = _steps(data, KINDS[centroids])
    # Assert: nonzero levels within step/2 of their input at the midpoints, within a step
    # at their group's centroid (inside their bins, to 1/256 step), a step more where the
    # rate-distortion choice may lower a level by one; zeros within the dead zone (or level
    # 2's upper edge where the rate-distortion choice may set levels 1 and 2 to 0); integers exact
    if scope == "global":  # one step for the state
        assert len(steps) == 1
        step_of = dict.fromkeys(("fc.weight", "fc.bias"), steps[0])
    else:  # one per float tensor, 0 for the all-zero one
        assert len(steps) == 3 and steps[2] == 0
        step_of = dict(zip(("fc.weight", "fc.bias"), steps))
    for name in ("fc.weight", "fc.bias"):
        x, y = STATE[name].numpy().ravel(), out[name].numpy().ravel()
        step = step_of[name]
        if step == 0:  # a tensor too small for its share of the budget is sent as zeros
            assert scope == "tensor" and not y.any()
            continue
        error = np.abs(x.astype(np.float64) - y)
        nonzero = y != 0
        bound = (step * (1 + 1 / 256) if centroids else step / 2) + (step if rate_distortion else 0)
        assert (error[nonzero] <= bound * (1 + 1e-5)).all()
        zero_bound = dead_zone + 2 if rate_distortion else dead_zone
        assert (error[~nonzero] <= zero_bound * step * (1 + 1e-5)).all()
        assert (np.sign(y) * np.sign(x) >= 0).all()
    assert out["zero"].abs().sum() == 0 and out["n"].item() == 3 and out["n"].dtype == torch.int64


@pytest.mark.parametrize("scope", ["global", "tensor"])
@pytest.mark.parametrize("bits", [0.25, 0.5, 1.0, 3.0])
def test_the_budget_is_met_and_used(bits, scope):
    data, _ = _roundtrip(UniformCodec(bits, scope=scope))
    table, positions, magnitudes = unpack_frame(data, LAYOUT, FrameHeader(3, KIND, 2), max_sections=5)[1:4]
    entries = STATE["fc.weight"].numel() + STATE["fc.bias"].numel()
    coded = len(table) + len(positions) + len(magnitudes)
    # within the budget, and not far below it
    assert 0.8 * bits * entries / 8 <= coded <= bits * entries / 8


def test_one_step_for_the_state_leaves_less_error_than_a_step_per_tensor():
    # Arrange: two tensors of very different scales (the bias is 100x the weight)
    state = {"fc.weight": STATE["fc.weight"] * 0.01, "fc.bias": STATE["fc.bias"], "zero": STATE["zero"], "n": STATE["n"]}

    def error(scope):
        out = UniformCodec(0.5, scope=scope).decode(UniformCodec(0.5, scope=scope).encode(state, CONTEXT), CONTEXT)
        return sum(float(((out[k] - state[k]) ** 2).sum()) for k in ("fc.weight", "fc.bias"))

    # Assert: the shared step spends the budget on the large tensor
    assert error("global") < error("tensor") / 2


def test_a_tensor_below_the_shared_step_costs_one_byte_and_decodes_to_zeros():
    # Arrange: the bias a million times smaller than the weight
    state = {**STATE, "fc.bias": STATE["fc.bias"] * 1e-6}
    data = UniformCodec(0.5).encode(state, CONTEXT)
    # Execute
    out = UniformCodec(0.5).decode(data, CONTEXT)
    # Assert: one step sent; the table ends with the counts 0 of the bias and the zero tensor
    assert len(_steps(data)) == 1 and _steps(data)[0] > 0
    assert not out["fc.bias"].any() and out["fc.weight"].any()
    assert bytes(unpack_frame(data, LAYOUT, FrameHeader(3, KIND, 2), max_sections=5)[1][-2:]) == b"\0\0"


def test_more_bits_give_less_error():
    errors = []
    for bits in (0.25, 0.5, 1.0, 2.0, 4.0):
        _, out = _roundtrip(UniformCodec(bits))
        errors.append(float(((out["fc.weight"] - STATE["fc.weight"]) ** 2).sum()))
    assert errors == sorted(errors, reverse=True) and errors[-1] < errors[0] / 50


@pytest.mark.parametrize("bits", [0.1, 0.3, 1.0])
def test_the_rate_distortion_choice_leaves_less_error_in_the_same_budget(bits):
    # Arrange: heavy-tailed (Laplace) rows of different scales, like real residuals
    torch.manual_seed(0)
    weight = torch.distributions.Laplace(0.0, 1.0).sample((64, 256)) * torch.logspace(-1, 0, 64)[:, None]
    state = {"w": weight, "b": torch.distributions.Laplace(0.0, 1.0).sample((64,))}
    context = MessageContext(layout_of(state), 3, 2)

    def error(rate_distortion):
        codec = UniformCodec(bits, rate_distortion=rate_distortion)
        out = codec.decode(codec.encode(state, context), context)
        return sum(float(((out[k] - state[k]) ** 2).sum()) for k in state)

    # Assert: levels that cost more than they remove go down, and a finer step gains more
    assert error(True) < 0.99 * error(False)


def test_the_rate_distortion_prices_follow_the_coders_models():
    # Arrange: levels with a dense row 0 and a dense column 0, sparse elsewhere; magnitude 1
    # common, 3 rare
    levels = np.zeros((16, 32), np.int64)
    levels[0, ::2] = 1
    levels[::2, 0] = 1
    levels[5, 7] = 3
    # Execute
    bits = level_bits(levels, 3)
    one, three, zero = (bits(np.full(levels.shape, m)) for m in (1, 3, 0))
    # Assert: a nonzero is cheaper where its row and column are dense (entry (2, 0)'s row is
    # sparse but its column dense), a zero dearer; the rare magnitude costs more than the common one
    assert one[0, 4] < one[2, 0] < one[9, 9] and zero[0, 4] > zero[9, 9]
    assert (three - one)[9, 9] > 2 and np.allclose(three - one, (three - one)[0, 0])
    # and an entry's own level does not price itself: (5, 7), alone in its row and column,
    # costs what an empty row and column's entry costs
    assert one[5, 7] == pytest.approx(one[3, 9])


@pytest.mark.parametrize("bits", [0.2, 1.0, 3.0])
def test_centroids_leave_less_error_than_the_bins_midpoints(bits):
    # Arrange: Laplace entries (peaked at 0, like residuals), levels at a step that fits the budget
    torch.manual_seed(1)
    values = torch.distributions.Laplace(0.0, 1.0).sample((64, 128)).reshape(-1).numpy()
    codec = UniformCodec(bits, centroids=True)
    step = codec.step([(values, (64, 128))])
    levels = codec.levels(values, (64, 128), step)
    midpoints = dataclasses.replace(levels, centroids=None)

    def error(levels):
        return float(((codec.recover(levels, step) - values) ** 2).sum())

    # Assert: the centroids move towards 0 (below the midpoint byte 128; level 1 always), and the
    # error falls; a group below CENTROID_MIN entries stays at its midpoints
    assert levels.centroids[0] < CENTROID_SCALE and levels.centroids[1] <= CENTROID_SCALE
    assert error(levels) < 0.99 * error(midpoints)
    few = codec.levels(values[: CENTROID_MIN * 2], (CENTROID_MIN * 2,), step)
    assert np.count_nonzero(few.magnitude > 1) < CENTROID_MIN and few.centroids[1] == CENTROID_SCALE
    # and the default sends none: the same levels, the same bytes as before centroids existed
    assert UniformCodec(bits).levels(values, (64, 128), step).centroids is None


def test_the_same_payload_gives_the_same_bytes():
    assert UniformCodec(1).encode(STATE, CONTEXT) == UniformCodec(1).encode(STATE, CONTEXT)


def _recrc(data: bytearray) -> bytes:
    data[-4:] = zlib.crc32(bytes(data[:-4])).to_bytes(4, "little")
    return bytes(data)


def test_every_truncation_and_bit_flip_raises_only_message_error():
    data = UniformCodec(0.5).encode(STATE, CONTEXT)
    for end in range(len(data)):
        with pytest.raises(MessageError):
            UniformCodec(0.5).decode(data[:end], CONTEXT)
    rng = np.random.default_rng(0)
    for bit in rng.choice(8 * (len(data) - 4), 300, replace=False):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:  # with a valid CRC the flip reaches the decoder: an error or finite values
            out = UniformCodec(0.5).decode(_recrc(flipped), CONTEXT)
        except MessageError:
            continue
        assert all(torch.isfinite(t.float()).all() for t in out.values())


def test_negative_step_extra_words_and_overflow_are_refused():
    codec = UniformCodec(1)
    steps, table, positions, stream, raw = unpack_frame(
        codec.encode(STATE, CONTEXT), LAYOUT, FrameHeader(3, KIND, 2), max_sections=5
    )

    def frame(steps_bytes, stream_bytes):
        sections = [steps_bytes, bytes(table), bytes(positions), stream_bytes, bytes(raw)]
        return pack_frame(sections, LAYOUT, FrameHeader(3, KIND, 2))

    negative = np.frombuffer(steps, "<f4").copy()
    with pytest.raises(MessageError, match="negative step"):
        codec.decode(frame((-negative).tobytes(), bytes(stream)), CONTEXT)
    with pytest.raises(MessageError, match="stream"):
        codec.decode(frame(bytes(steps), bytes(stream) + bytes(8)), CONTEXT)
    huge = np.where(negative != 0, np.float32(3e38), np.float32(0))
    with pytest.raises(MessageError, match="overflows"):
        codec.decode(frame(huge.tobytes(), bytes(stream)), CONTEXT)


def test_bad_settings_and_payloads_are_refused():
    bad_settings = (
        {"bits_per_entry": 0}, {"bits_per_entry": 40}, {"dead_zone": 0.2}, {"bits_per_entry": True}, {"scope": "row"},
        {"rate_distortion": "yes"}, {"centroids": 1},
    )
    for bad in bad_settings:
        with pytest.raises(ValueError, match="uniform"):
            UniformCodec(**bad)
    with pytest.raises(ValueError, match="non-finite"):
        UniformCodec(1).encode({**STATE, "fc.bias": torch.full((40,), float("nan"))}, CONTEXT)
