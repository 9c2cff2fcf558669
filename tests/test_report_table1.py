"""Table 1: values, BR, 'not reached' handling and the three writers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from resfed.report import (
    PAPER_TABLE1,
    build_table1,
    load_runs,
    paper_rounds,
    paper_setting,
    write_table1,
)
from resfed.report.table1 import format_mb_spread
from resfed.report.testing import write_synthetic_run

ROLES = {"baseline": "baseline", "ul": "resfed-ul", "dl": "resfed-dl"}
MB = 125_000  # bytes per client per round that make 1 Mb per client


@pytest.fixture
def runs(tmp_path):
    # Baseline (2 Mb per round both ways): seed 0 reaches 0.85 at round 3 (6 Mb),
    # seed 1 at round 2 (4 Mb): 5 ± 1.414 Mb, 2.5 rounds.
    for seed, acc in ((0, [0.5, 0.8, 0.86, 0.9]), (1, [0.5, 0.86, 0.9, 0.9])):
        write_synthetic_run(tmp_path, seed=seed, accuracy=acc,
                            ul_bytes_per_client=2 * MB, dl_bytes_per_client=2 * MB)
    # ResFed UL (0.01 Mb per round UL): 0.03 and 0.02 Mb, seed 2 never reaches.
    for seed, acc in ((0, [0.5, 0.8, 0.86]), (1, [0.5, 0.9, 0.9]), (2, [0.5, 0.6, 0.7])):
        write_synthetic_run(tmp_path, method="resfed", variant="resfed-ul", seed=seed,
                            accuracy=acc, ul_bytes_per_client=1250,
                            dl_bytes_per_client=2 * MB)
    # ResFed DL: the only seed never reaches the target.
    write_synthetic_run(tmp_path, method="resfed", variant="resfed-dl", accuracy=[0.5, 0.7],
                        ul_bytes_per_client=2 * MB, dl_bytes_per_client=1000)
    # Non-IID baseline, directory spelling of classes:5: reaches at round 4 (8 Mb).
    write_synthetic_run(tmp_path, partition="classes-5", accuracy=[0.3, 0.5, 0.7, 0.85],
                        ul_bytes_per_client=2 * MB, dl_bytes_per_client=2 * MB)
    # A run of another variant is ignored.
    write_synthetic_run(tmp_path, method="weights", variant="weights-99")
    return load_runs(tmp_path)


def _row(df, partition, role):
    return df[(df.partition == partition) & (df.role == role)].iloc[0]


def test_values_br_and_not_reached(runs):
    df = build_table1(runs, ROLES)
    assert len(df) == 6  # 2 cells x 3 roles; roles without runs are kept, marked
    missing = _row(df, "classes-5", "ul")
    assert missing.n_seeds == 0 and missing.cv_text == "no runs"
    base = _row(df, "iid", "baseline")
    assert base.cv_mean_mb == pytest.approx(5.0)
    assert base.cv_std_mb == pytest.approx(math.sqrt(2))
    assert (base.n_seeds, base.n_reached) == (2, 2)
    assert base.rounds_mean == pytest.approx(2.5)
    assert base.cv_text == "5.00 ± 1.41 (n=2)"
    assert base.paper_cv_mb == 17.73

    ul = _row(df, "iid", "ul")
    assert ul.direction == "ul"
    assert ul.cv_mean_mb == pytest.approx(0.025)
    assert (ul.n_seeds, ul.n_reached) == (3, 2)
    assert ul.cv_text == "0.025 ± 0.007 (n=2 of 3)"
    assert ul.br == pytest.approx(1 - 0.025 / 5.0)
    assert ul.br_text == "99.50%"
    assert ul.paper_br == pytest.approx(0.9910)

    dl = _row(df, "iid", "dl")
    assert dl.n_reached == 0 and math.isnan(dl.cv_mean_mb) and math.isnan(dl.br)
    assert dl.cv_text == "not reached (n=0 of 1)"

    non_iid = _row(df, "classes-5", "baseline")
    assert non_iid.setting == "non-iid"
    assert non_iid.cv_mean_mb == pytest.approx(8.0)
    assert math.isnan(non_iid.cv_std_mb) and non_iid.cv_text == "8.00 (n=1)"
    assert non_iid.paper_cv_mb == 29.55


def test_paper_reference_numbers():
    # The paper's baseline CVs are whole numbers of float32 models of its networks.
    for (dataset, _), cell in PAPER_TABLE1.items():
        rounds = paper_rounds(dataset, cell.baseline_mb)
        assert rounds == pytest.approx(round(rounds), abs=0.05)
    assert paper_setting("classes:5") == paper_setting("classes-5") == "non-iid"
    assert paper_setting("dirichlet:0.5") is None
    cell = PAPER_TABLE1[("svhn", "iid")]
    assert cell.baseline_mb == 7150 and cell.ul_mb == 80  # printed in Gb
    for cell in PAPER_TABLE1.values():  # printed BRs agree with the printed CVs
        assert 1 - cell.ul_mb / cell.baseline_mb == pytest.approx(cell.ul_br, abs=6e-4)
        assert 1 - cell.dl_mb / cell.baseline_mb == pytest.approx(cell.dl_br, abs=6e-4)


def test_target_mismatch_and_override(tmp_path):
    write_synthetic_run(tmp_path, seed=0, target=0.85)
    write_synthetic_run(tmp_path, seed=1, target=0.80)
    runs = load_runs(tmp_path)
    with pytest.raises(ValueError, match="target_accuracy"):
        build_table1(runs, ROLES)
    df = build_table1(runs, ROLES, targets={"fmnist": 0.9})
    assert df.iloc[0].target == 0.9 and df.iloc[0].n_reached == 2


def test_ambiguous_role_spec(tmp_path):
    write_synthetic_run(tmp_path, method="fedavg", variant="baseline")
    write_synthetic_run(tmp_path, method="resfed", variant="baseline")
    runs = load_runs(tmp_path)
    with pytest.raises(ValueError, match="method/variant"):
        build_table1(runs, {"baseline": "baseline"})
    df = build_table1(runs, {"baseline": "fedavg/baseline"})
    assert df.iloc[0].n_seeds == 1


def test_writers(runs, tmp_path):
    df = build_table1(runs, ROLES)
    paths = write_table1(df, tmp_path / "tables" / "table1")
    assert [p.name for p in paths] == ["table1.csv", "table1.md", "table1.tex", "table1.html"]
    assert not [p for p in (tmp_path / "tables").iterdir() if p.name.endswith(".tmp")]

    csv = pd.read_csv(paths[0])
    for col in ("dataset", "partition", "role", "cv_mean_mb", "cv_std_mb", "n_seeds",
                "n_reached", "br", "rounds_mean", "paper_cv_mb", "paper_br"):
        assert col in csv.columns
    assert "cv_text" not in csv.columns
    assert csv.cv_mean_mb.iloc[0] == pytest.approx(5.0)

    md = paths[1].read_text()
    header = md.splitlines()[2]
    assert header.startswith(
        "| Method | Metric | Fashion-MNIST IID ours | Fashion-MNIST IID paper")
    assert "Fashion-MNIST Non-IID ours" in header
    assert "| Baseline | CV (Mb) | 5.00 ± 1.41 (n=2) | 17.73 | 8.00 (n=1) | 29.55 |" in md
    assert "| ResFed UL | BR | 99.50% | 99.10% |" in md
    assert "not reached (n=0 of 1)" in md
    assert "| Target ACC |  | 85% | 85% |" in md
    assert "| Baseline | Rounds | 2.5 ± 0.7 (n=2) | 9 | 4 (n=1) | 15 |" in md  # paper: CV / 1.97 Mb

    tex = paths[2].read_text()
    for token in (r"\toprule", r"\midrule", r"\bottomrule", r"\multicolumn{4}{c}{Fashion-MNIST}",
                  r"5.00 $\pm$ 1.41 (n=2)", r"99.50\%", r"\cmidrule(lr){3-4}"):
        assert token in tex
    body = [ln for ln in tex.splitlines() if ln.startswith(("Baseline", "ResFed", "Method"))]
    assert body and all(ln.count("&") == 5 for ln in body)

    page = paths[3].read_text()  # what the Snakemake report shows: the same cells as the markdown
    assert "<td>5.00 ± 1.41 (n=2)</td><td>17.73</td><td>8.00 (n=1)</td><td>29.55</td>" in page
    assert "<th>Fashion-MNIST IID ours</th>" in page and "Variants: baseline = `baseline`" in page


@pytest.mark.parametrize("mean, std, text", [
    (0.13912, 0.00829, "0.139 ± 0.008"),
    (0.1913, 0.0391, "0.19 ± 0.04"),
    (19.354, 1.651, "19.35 ± 1.65"),
    (0.14, math.nan, "0.140"),
    (0.1441, math.nan, "0.144"),
    (4.0912, math.nan, "4.09"),
    (17.734, math.nan, "17.73"),
    (0.5, 0.0, "0.50 ± 0.00"),
    (7150.0, 30.0, "7,150 ± 30.00"),
])
def test_mean_and_std_share_the_decimal_place_of_a_small_std(mean, std, text):
    assert format_mb_spread(mean, std) == text
