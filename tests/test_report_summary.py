"""The per-method summary: bytes, ratio against the baseline, volume to target."""

import pytest

from resfed.report import load_run
from resfed.report.summary import build_summary, summary_markdown, write_summary
from resfed.report.testing import write_synthetic_run


def _runs(tmp_path):
    base = write_synthetic_run(tmp_path, variant="baseline", accuracy=(0.5, 0.9), ul_bytes_per_client=1000,
                               dl_bytes_per_client=1000, info={"n_clients": 2})
    small = write_synthetic_run(tmp_path, method="resfed", variant="resfed", accuracy=(0.4, 0.7, 0.86),
                                ul_bytes_per_client=10, dl_bytes_per_client=40, info={"n_clients": 2})
    return [load_run(base), load_run(small)]


def test_ratios_and_volumes(tmp_path):
    table = build_summary(_runs(tmp_path), "baseline").set_index("variant")
    assert table.loc["resfed", "ratio_vs_baseline"] == pytest.approx(2000 / 50)
    assert table.loc["resfed", "rounds_to_target"] == 3
    assert table.loc["resfed", "ul_mb_to_target"] == pytest.approx(3 * 10 * 8 / 1e6)
    assert table.loc["baseline", "ratio_vs_baseline"] == 1


def test_writes_csv_and_markdown(tmp_path):
    paths = write_summary(build_summary(_runs(tmp_path), "baseline"), tmp_path / "out" / "summary")
    assert [p.suffix for p in paths] == [".csv", ".md", ".html"]
    assert "<td>3 (n=1)</td>" in paths[2].read_text()
    text = summary_markdown(build_summary(_runs(tmp_path), "baseline"))
    assert "40.0x" in text
    assert "| 3 (n=1) |" in text  # whole rounds, and the seeds behind them


def test_missing_baseline_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="baseline variant 'fedavg'"):
        build_summary(_runs(tmp_path), "fedavg")


def test_volume_spread_over_seeds_and_times_less_than_the_baseline(tmp_path):
    # Arrange: the baseline reaches the target in round 2; resfed in round 3 (seed 0) and 4 (seed 1)
    runs = _runs(tmp_path)
    runs.append(load_run(write_synthetic_run(
        tmp_path, method="resfed", variant="resfed", seed=1, accuracy=(0.4, 0.7, 0.8, 0.86),
        ul_bytes_per_client=10, dl_bytes_per_client=40, info={"n_clients": 2})))
    # Execute
    table = build_summary(runs, "baseline").set_index("variant")
    # Assert: mean and sample std over seeds; the baseline's volume over the method's
    ul = [3 * 10 * 8 / 1e6, 4 * 10 * 8 / 1e6]
    assert table.loc["resfed", "ul_mb_to_target"] == pytest.approx(sum(ul) / 2)
    assert table.loc["resfed", "ul_mb_to_target_std"] == pytest.approx(abs(ul[0] - ul[1]) / 2**0.5)
    assert table.loc["resfed", "rounds_to_target_std"] == pytest.approx(2**-0.5)
    assert table.loc["resfed", "ul_volume_vs_baseline"] == pytest.approx((2 * 1000 * 8 / 1e6) / (sum(ul) / 2))
    assert table.loc["baseline", "dl_volume_vs_baseline"] == 1
    assert "(57.14x less)" in summary_markdown(build_summary(runs, "baseline"))


def test_variants_show_their_labels(tmp_path):
    table = build_summary(_runs(tmp_path), "baseline", {"resfed": "ResFed (Res-1)"})
    assert list(table["label"]) == ["baseline", "ResFed (Res-1)"]
    assert "| ResFed (Res-1) |" in summary_markdown(table) and "| baseline |" in summary_markdown(table)
