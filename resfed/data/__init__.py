"""Datasets for resfed: raw files -> verified arrays -> client partitions.

- :mod:`.registry`  what each dataset is (files, published MD5s, URLs, shape)
- :mod:`.readers`   readers of the original formats (IDX, CIFAR pickles, SVHN .mat)
- :mod:`.sources`   where raw files are found (local dirs, registry copies, downloads)
- :mod:`.prepared`  one checked ``.npz`` + JSON sidecar per dataset
- :mod:`.partition` iid / classes:k / dirichlet:alpha splits and their hashed files
- :mod:`.synthetic` tiny fixture datasets in the real formats
"""

from resfed.partition_scheme import Scheme, parse_scheme, scheme_slug

from .checksums import FileCheck, data_checksum, md5_file, verify_raw_file
from .errors import ChecksumError, DataError, DataFormatError, DatasetMissing, PartitionError
from .partition import (
    PartitionFile,
    class_counts,
    make_partition,
    partition_hash,
    partition_prepared,
    read_partition,
    read_partition_file,
    write_partition,
)
from .prepared import PreparedData, channel_stats, load_prepared, prepare, prepared_checksum, sidecar_path
from .readers import (
    read_cifar,
    read_cifar100,
    read_idx,
    read_idx_images,
    read_idx_labels,
    read_mnist_pickle,
    read_svhn_mat,
)
from .registry import DATASETS, DatasetSpec, RawFile, get_spec
from .sources import Source, locate, locate_all

__all__ = [
    "DATASETS", "ChecksumError", "DataError", "DataFormatError", "DatasetMissing", "DatasetSpec", "FileCheck",
    "PartitionError", "PartitionFile", "PreparedData", "RawFile", "Scheme", "Source", "channel_stats",
    "class_counts", "data_checksum", "get_spec", "load_prepared", "locate", "locate_all", "make_partition", "md5_file",
    "parse_scheme", "partition_hash", "partition_prepared", "prepare", "prepared_checksum", "read_cifar",
    "read_cifar100", "read_idx", "read_idx_images", "read_idx_labels", "read_mnist_pickle", "read_partition",
    "read_partition_file", "read_svhn_mat", "scheme_slug", "sidecar_path", "verify_raw_file", "write_partition",
]
