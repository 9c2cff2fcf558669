"""Figures are written as non-empty PNG and PDF files."""

from __future__ import annotations

import math

import pytest

from resfed.report import (
    load_runs,
    plot_accuracy_vs_round,
    plot_accuracy_vs_volume,
    plot_sparsity_sweep,
    sparsity_points,
)
from resfed.report.testing import write_synthetic_run


def _assert_figures(paths):
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert all(p.stat().st_size > 1000 for p in paths)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for partition in ("iid", "classes-5"):
        for seed in (0, 1):
            for variant, ul in (("baseline", 250_000), ("resfed-ul", 700)):
                acc = [0.3 + 0.1 * t + 0.02 * seed for t in range(6)]
                write_synthetic_run(root, partition=partition, variant=variant, seed=seed,
                                    accuracy=acc, ul_bytes_per_client=ul,
                                    dl_bytes_per_client=[0] + [250_000] * 5)
    return load_runs(root)


def test_accuracy_vs_round(runs, tmp_path):
    _assert_figures(plot_accuracy_vs_round(runs, tmp_path / "fig3"))


def test_accuracy_vs_volume_single_cell(runs, tmp_path):
    # DL sends nothing in round 1: that point is dropped from the log axis, not an error.
    iid = [r for r in runs if r.partition == "iid"]
    _assert_figures(plot_accuracy_vs_volume(iid, tmp_path / "figB1"))


def test_sparsity_sweep(tmp_path):
    sparsity = {"s0": 0.0, "s90": 0.9, "s99": 0.99}
    per_round = {"s0": 250_000, "s90": 25_000, "s99": 2_500}
    for variant, b in per_round.items():
        for seed in (0, 1):
            write_synthetic_run(tmp_path / "runs", method="resfed", variant=variant, seed=seed,
                                accuracy=[0.5, 0.6, 0.7, 0.8], ul_bytes_per_client=b,
                                dl_bytes_per_client=b)
    runs = load_runs(tmp_path / "runs")

    def sparsity_of(run):
        return sparsity[run.variant]

    points, at_round, budget = sparsity_points(runs, sparsity_of, direction="ul")
    assert at_round == 4
    assert budget == pytest.approx(4 * 2_500 * 8 / 1e6)  # smallest final UL volume
    s0 = points[points.sparsity == 0.0]
    assert s0.acc_at_round.tolist() == pytest.approx([80.0, 80.0])
    assert all(math.isnan(v) for v in s0.acc_at_budget)  # one round already costs more
    assert points[points.sparsity == 0.99].acc_at_budget.tolist() == pytest.approx([80, 80])
    _assert_figures(plot_sparsity_sweep(runs, tmp_path / "fig4", sparsity_of=sparsity_of,
                                        direction="ul"))


@pytest.fixture
def captured(monkeypatch):
    """The figure a plot function draws, instead of saving it."""
    from resfed.report import figures

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, out_prefix: drawn.append(fig) or [])
    return drawn


def _rings(ax):
    """(x, y) of the first-crossing markers, rounded for comparison."""
    return sorted((round(float(line.get_xdata()[0]), 6), round(float(line.get_ydata()[0]), 6))
                  for line in ax.get_lines() if line.get_marker() == "o")


def test_accuracy_figures_draw_the_target_and_the_first_crossing(runs, captured):
    import dataclasses

    from resfed.report import figures

    iid = [dataclasses.replace(r, info={**r.info, "target_accuracy": 0.6}) for r in runs if r.partition == "iid"]
    figures.plot_accuracy_vs_round(iid, "unused", labels={"resfed-ul": "ResFed UL (99 %)"})
    ax = captured[0].axes[0]
    targets = [line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert targets == pytest.approx([60.0])
    # mean accuracy 0.31 + 0.1 (round - 1) first reaches 0.6 at round 4 (61 %), for both series
    assert _rings(ax) == [(4, 61.0), (4, 61.0)]
    legend = captured[0].legends[0]
    assert legend.get_title().get_text() == "Method"
    assert [t.get_text() for t in legend.get_texts()] == ["baseline", "ResFed UL (99 %)"]

    figures.plot_accuracy_vs_volume(iid, "unused")
    ul_panel = captured[1].axes[0]
    # at round 4 the baseline has sent 4 x 250,000 bytes = 8 Mb per client, ResFed 4 x 700 bytes
    assert _rings(ul_panel) == [(4 * 700 * 8 / 1e6, 61.0), (8.0, 61.0)]


def test_bytes_per_round_has_a_panel_per_direction(runs, captured):
    from resfed.report import figures

    figures.plot_bytes_per_round([r for r in runs if r.partition == "iid"], "unused")
    ul, dl = captured[0].axes
    assert ul.get_yscale() == dl.get_yscale() == "log"
    assert {tuple(line.get_ydata()) for line in ul.get_lines() if len(line.get_ydata()) == 6} == \
        {(250_000.0,) * 6, (700.0,) * 6}
    # DL sent nothing in round 1: rounds 2-6 only
    assert {tuple(line.get_xdata()) for line in dl.get_lines() if len(line.get_xdata())} == {(2, 3, 4, 5, 6)}


def test_draw_figure_writes_a_page_with_the_caption(runs, tmp_path):
    from resfed.report.figure_kinds import FIGURE_CAPTIONS, draw_figure

    paths = draw_figure("bytes-round", runs, tmp_path / "exp" / "bytes-round")
    assert [p.suffix for p in paths] == [".png", ".pdf", ".html"]
    page = paths[2].read_text()
    assert "data:image/png;base64," in page and "<figcaption>" in page
    assert FIGURE_CAPTIONS["bytes-round"][:40] in page
    with pytest.raises(ValueError, match="unknown figure kind 'pie'"):
        draw_figure("pie", runs, tmp_path / "pie")
