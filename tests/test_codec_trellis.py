"""The uniform stage's dependent (trellis-coded) quantisation: the state machine both ends
follow, the Viterbi search's optimality, its bounds and its gain over scalar levels."""

import itertools

import numpy as np
import pytest
import torch
from codec_checks import structured

from resfed.codec import MessageContext, UniformCodec, layout_of
from resfed.codec.formats import trellis
from resfed.codec.formats.uniform import level_bits
from resfed.codec.frame import FrameHeader, unpack_frame

STATE = {
    "fc.weight": structured((40, 60), 1) * 1e-3,
    "conv.weight": structured((12, 48), 3).reshape(12, 3, 4, 4) * 1e-3,
    "fc.bias": structured((1, 40), 2).reshape(40) * 1e-3,
    "n": torch.tensor(3),
}
LAYOUT = layout_of(STATE)
CONTEXT = MessageContext(LAYOUT, 3, 2)
# the 8-state machine of NNCodec / DeepCABAC, written out: (next state on an even level, on an odd one)
MACHINE = {0: (0, 2), 1: (7, 5), 2: (1, 3), 3: (6, 4), 4: (2, 0), 5: (5, 7), 6: (3, 1), 7: (4, 6)}


def _steps(data):
    """The steps a message sends: one for the state (global) or one per float tensor."""
    return np.frombuffer(unpack_frame(data, LAYOUT, FrameHeader(3, 6, 2), max_sections=5)[0], "<f4").tolist()


def _walk(multiples: np.ndarray) -> None:
    """Assert that multiples of the step (rows, columns) follow the machine down each column:
    even under states 0, 2, 4, 6 (quantiser 0), odd or 0 under the others."""
    for column in multiples.T:
        state = 0
        for value in column:
            assert value == 0 or value % 2 == (state & 1), (column, state, value)
            level = (abs(value) + (state & 1)) // 2
            state = MACHINE[state][level & 1]


@pytest.mark.parametrize("scope", ["global", "tensor"])
@pytest.mark.parametrize("bits", [0.3, 1.0, 4.0])
def test_recovered_values_follow_the_state_machine_and_their_bounds(bits, scope):
    # Execute
    codec = UniformCodec(bits, scope=scope, trellis=True)
    data = codec.encode(STATE, CONTEXT)
    out = codec.decode(data, CONTEXT)
    names = ("fc.weight", "conv.weight", "fc.bias")
    steps = dict.fromkeys(names, _steps(data)[0]) if scope == "global" else dict(zip(names, _steps(data)))
    # Assert: every value a whole multiple of the step, in the parity its state allows;
    # nonzeros within 2 steps of their input, zeros within 3; integers exact
    for name in names:
        step = steps[name]
        x, y = STATE[name].double().numpy(), out[name].double().numpy()
        if step == 0:  # a tensor too small for its share of the budget is sent as zeros
            assert scope == "tensor" and not y.any()
            continue
        multiple = y / step
        assert np.allclose(multiple, np.round(multiple), atol=1e-4)
        _walk(np.round(multiple).astype(np.int64).reshape(trellis.chain_view(x.shape)))
        error = np.abs(x - y)
        assert (error[y != 0] <= 2 * step * (1 + 1e-5)).all()
        assert (error[y == 0] <= trellis.ZERO_WITHIN * step * (1 + 1e-5)).all()
        assert (np.sign(y) * np.sign(x) >= 0).all()
    assert out["n"].item() == 3


def test_the_search_finds_the_cheapest_path():
    # Arrange: 4 rows (the chain) x 3 columns, an arbitrary price per level
    rng = np.random.default_rng(5)
    scaled = rng.uniform(0, 5, (4, 3))

    def bits(m):
        return np.where(m > 0, 3.0 + 0.5 * m, 0.7)

    lam = 0.8
    # Execute
    found = trellis.search(scaled, bits, lam)
    # Assert: per column, no assignment of levels 0..4 along the chain costs less
    for column in range(3):
        def cost(levels):
            state, total = 0, 0.0
            for x, m in zip(scaled[:, column], levels):
                r = 2 * m - (state & 1) if m else 0
                if m and abs(x - r) > 2 or not m and x >= trellis.ZERO_WITHIN:
                    return np.inf  # outside the candidates the search considers
                total += (x - r) ** 2 + lam * float(bits(np.array(m)))
                state = MACHINE[state][m & 1]
            return total

        best = min(cost(levels) for levels in itertools.product(range(5), repeat=4))
        assert cost(found[:, column]) == pytest.approx(best)


@pytest.mark.parametrize("bits", [0.1, 0.3, 1.0])
def test_the_trellis_leaves_less_error_than_scalar_rate_distortion_levels_in_the_same_budget(bits):
    # Arrange: heavy-tailed rows and columns of different scales, like real residuals
    state = {"w": structured((96, 256), 7), "v": structured((64, 128), 8)}
    context = MessageContext(layout_of(state), 3, 2)

    def error_and_size(codec):
        data = codec.encode(state, context)
        out = codec.decode(data, context)
        return sum(float(((out[k] - state[k]) ** 2).sum()) for k in state), len(data)

    trellis_error, trellis_size = error_and_size(UniformCodec(bits, trellis=True))
    scalar_error, scalar_size = error_and_size(UniformCodec(bits, rate_distortion=True))
    # Assert: within the same budget, less squared error
    assert trellis_size <= bits * (96 * 256 + 64 * 128) / 8 + 64
    assert trellis_error < 0.97 * scalar_error, (trellis_error, scalar_error, trellis_size, scalar_size)


def test_the_search_prices_levels_by_the_coders_models():
    # Arrange: entries 1.6 steps from 0, 0.4 from Q0's first point (2 steps)
    scaled = np.full((6, 2), 1.6)
    cheap = level_bits(np.ones((6, 2), np.int64), 3)  # every entry nonzero: nonzeros cheap
    dear = level_bits(np.zeros((6, 2), np.int64), 3)  # every entry zero: nonzeros dear
    # Execute / Assert: the same inputs become levels where they are cheap, zeros where not
    assert trellis.search(scaled, cheap, 1.0).any()
    assert not trellis.search(scaled, dear, 1.0).any()


def test_trellis_settings_are_checked():
    for bad in ({"trellis": "yes"}, {"trellis": True, "rate_distortion": True}, {"trellis": True, "centroids": True}):
        with pytest.raises(ValueError, match="uniform"):
            UniformCodec(**bad)
