"""Running the `resfed` CLI as a user does (a subprocess of this tree) and reading its errors."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "configs" / "tiny.yaml"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def resfed(*args, cwd=REPO, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resfed.cli", *map(str, args)],
                          capture_output=True, text=True, env=ENV, cwd=cwd, **kwargs)


def assert_one_clean_line(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """stderr is one line holding every fragment, and no traceback anywhere."""
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
