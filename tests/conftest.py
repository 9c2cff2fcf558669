"""Shared fixtures."""

import pytest

from resfed.data import sources


@pytest.fixture
def isolated_data_env(monkeypatch, tmp_path):
    """No system Debian files, no $RESFED_DATA, no network, cwd in a temp dir."""
    monkeypatch.setattr(sources, "DEBIAN_ROOTS", ())
    monkeypatch.delenv("RESFED_DATA", raising=False)
    monkeypatch.setenv("RESFED_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
