"""Per-round progress in the units of the tables: log lines off a terminal, a bar on one, TensorBoard."""

import io

import pytest

from resfed.progress import Progress
from resfed.records import RoundRecord


class Terminal(io.StringIO):
    def isatty(self):
        return True


def rounds():
    # 4 clients; UL 100 bytes each per round, DL 250 000 bytes each
    return [RoundRecord(r, [100] * 4, [250_000] * 4, acc, 1.0, 1.0, 0.5) for r, acc in ((1, 0.5), (2, 0.9), (3, 0.95))]


def test_off_a_terminal_one_line_per_round_and_the_target_line():
    stream = io.StringIO()
    progress = Progress("mnist/iid/v/seed0", 3, 4, 0.85, stream=stream)
    for record in rounds():
        progress.round(record)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == ("mnist/iid/v/seed0 round 1/3: accuracy 0.5000, per client this round UL 100 B DL 250,000 B, "
                        "cumulative per client UL 0.0008 Mb DL 2 Mb, 0.5 s")
    assert lines[2] == "mnist/iid/v/seed0: target 0.85 reached at round 2 (0.0016 Mb UL, 4 Mb DL per client)"
    assert len(lines) == 4  # three rounds and one target line


def test_a_resumed_run_counts_the_rounds_done_and_does_not_repeat_the_target():
    stream = io.StringIO()
    done = rounds()[:2]
    progress = Progress("run", 3, 4, 0.85, done=done, stream=stream)
    progress.round(rounds()[2])
    assert "cumulative per client UL 0.0024 Mb DL 6 Mb" in stream.getvalue()
    assert "target" not in stream.getvalue()


def test_on_a_terminal_the_bar_shows_megabits_per_client_and_direction():
    stream = Terminal()
    progress = Progress("run", 3, 4, None, stream=stream)
    for record in rounds():
        progress.round(record)
    progress.close()
    assert "UL=0.0024Mb" in stream.getvalue() and "DL=6Mb" in stream.getvalue()
    assert "MB" not in stream.getvalue()


def test_quiet_still_reports_an_early_stop():
    stream = io.StringIO()
    progress = Progress("run", 3, 4, None, enabled=False, stream=stream)
    progress.round(rounds()[0])
    progress.close("round 2: client 0's local model holds NaN", rounds=1)
    assert stream.getvalue() == "run: stopped after 1 round(s): round 2: client 0's local model holds NaN\n"


def test_tensorboard_gets_every_round(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    progress = Progress("run", 3, 4, None, enabled=False, stream=io.StringIO(), tensorboard=tmp_path)
    for record in rounds():
        progress.round(record)
    progress.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [e.value for e in events.Scalars("volume_Mb_per_client/dl")] == [2.0, 4.0, 6.0]
    assert [e.step for e in events.Scalars("accuracy/test")] == [1, 2, 3]
