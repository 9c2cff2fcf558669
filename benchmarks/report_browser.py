"""What a reader of ``snakemake --report`` sees, checked in a real headless browser.

Run it in a pipeline's working directory after the pipeline ran (Debian: ``apt-get install
-y chromium``; as root, hence ``--no-sandbox``)::

    python benchmarks/report_browser.py --configfile tests/configs/tiny.yaml --out /tmp/report-check

It makes the report, then with Chromium:

1. renders the landing page (the report is a script-built page): its DOM after the
   scripts ran must hold the landing text, and its screenshot must not be blank;
2. renders every HTML item the report embeds (Table 1, the audit, the summaries, the
   figure pages), exactly the bytes the report's frame shows, and screenshots each;
3. checks that every CV of ``table1.csv`` appears as text in the rendered Table 1 page.

Prints one markdown row per page (``benchmarks/report_browser.md`` records a run). Exits 1
when a check fails.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import image

from resfed.config import load_config
from resfed.layout import results_root
from resfed.report.html import embedded_pages
from resfed.report.table1 import format_mb_spread

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run")
LANDING_TEXT = "What to look at first"


def chromium(*args: str) -> str:
    """Run headless Chromium with a fresh profile; its stdout (e.g. a dumped DOM)."""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                                capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"chromium failed: {result.stderr[-2000:]}")
    return result.stdout


def screenshot(page: Path, png: Path, size: str) -> float:
    """Screenshot a page after its scripts ran; the spread of its pixel values (0 = blank)."""
    chromium(f"--screenshot={png}", f"--window-size={size}", "--virtual-time-budget=5000", page.as_uri())
    return float(np.asarray(image.imread(png))[..., :3].std())


def make_report(configfile: str, report: Path) -> None:
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                    "--configfile", configfile, "--report", str(report)], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", required=True, help="the config whose results to report")
    parser.add_argument("--out", required=True, type=Path, help="folder for the report and the screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = args.out / "report.html"
    make_report(args.configfile, report)

    failures = []
    dom = chromium("--dump-dom", "--virtual-time-budget=5000", report.as_uri())
    if LANDING_TEXT not in dom:
        failures.append(f"landing page: {LANDING_TEXT!r} not in the rendered DOM")
    rows = [("landing page (report.html)", screenshot(report, args.out / "landing.png", "1400,900"))]
    pages = embedded_pages(report.read_text(encoding="utf-8"))
    for name, text in sorted(pages.items()):
        page = args.out / "pages" / name
        page.parent.mkdir(exist_ok=True)
        page.write_text(text, encoding="utf-8")
        rows.append((name, screenshot(page, args.out / f"{page.stem}.png", "1400,1000")))
        if name == "table1.html":
            rendered = chromium("--dump-dom", page.as_uri())
            root = results_root(load_config(args.configfile), [args.configfile])
            for row in pd.read_csv(f"{root}/tables/table1.csv").itertuples():
                if row.n_reached and format_mb_spread(row.cv_mean_mb, row.cv_std_mb) not in rendered:
                    failures.append(f"table1.html: CV {row.cv_mean_mb} of {row.role} not shown")
    if "table1.html" not in pages:
        failures.append("report: no table1.html item")
    failures += [f"{name}: blank screenshot" for name, spread in rows if not spread > 0.01]
    print("| page | screenshot pixel spread (0 = blank) |\n|---|---|")
    for name, spread in rows:
        print(f"| {name} | {spread:.3f} |")
    print("\n" + ("\n".join(failures) if failures else f"all checks passed: {len(rows)} pages rendered"))
    return 1 if failures or any(math.isnan(s) for _, s in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
