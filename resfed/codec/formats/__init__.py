"""Every message format of the project, one :class:`~resfed.codec.message.MessageCodec` per file.

Importing this package registers them all (see :mod:`resfed.codec.registry`):

- ``deep``: ResFed's deep codec (top-k, 1-bit, position coders) in the "RFED" container;
- ``sz``: FedSZ's SZ3 + zstd model states;
- ``fedpm_mask`` / ``fedpm_counts``: FedPM's range-coded masks and posterior counts;
- ``igc_coordinates``: IGC's blocks of subspace coordinates;
- ``qsgd``: QSGD's norms and stochastically quantised levels;
- ``uniform``: dead-zone uniform quantisation with a step per tensor chosen for a bit budget.
"""

from .deep import DeepCodec
from .fedpm_counts import CountsCodec, PosteriorCounts
from .fedpm_mask import MaskCodec
from .igc_coordinates import CoordinatesCodec
from .qsgd import QSGDCodec
from .sz import SZCodec
from .uniform import UniformCodec

__all__ = [
    "CoordinatesCodec",
    "CountsCodec",
    "DeepCodec",
    "MaskCodec",
    "PosteriorCounts",
    "QSGDCodec",
    "SZCodec",
    "UniformCodec",
]
