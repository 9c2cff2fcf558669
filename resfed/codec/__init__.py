"""The ResFed message codec: top-k sparsification, 1-bit quantisation, entropy coding,
and a versioned, checksummed container whose size is the real volume sent; and every
other message format of the project behind one interface (:class:`MessageCodec`, built
from a config by :func:`get_codec`).

>>> import torch
>>> from resfed.codec import CodecConfig, decode, encode, layout_of
>>> state = {"w": torch.tensor([[0.5, -2.0], [0.0, 1.0]]), "n": torch.tensor(7)}
>>> layout = layout_of(state)
>>> data = encode(state, layout, CodecConfig(sparsity=0.5, bits=32), method_id=1, round_index=3)
>>> header, out = decode(data, layout, expected_round=3)
>>> out["w"].tolist(), out["n"].item(), header.round_index
([[0.0, -2.0], [0.0, 1.0]], 7, 3)
>>> codec = get_codec({"id": "deep", "sparsity": 0.5, "bits": 32})
>>> context = MessageContext(layout, method_id=1, round_index=3)
>>> codec.decode(codec.encode(state, context), context)["w"].tolist()
[[0.0, -2.0], [0.0, 1.0]]
"""

from .bounds import size_report
from .config import CodecConfig
from .container import FORMAT_VERSION, Header
from .errors import MessageError
from .formats import (
    CoordinatesCodec,
    CountsCodec,
    DeepCodec,
    MaskCodec,
    PosteriorCounts,
    QSGDCodec,
    SZCodec,
    UniformCodec,
)
from .layout import Layout, TensorSpec, layout_of
from .message import MessageCodec, MessageContext
from .pipeline import decode, encode
from .registry import codec_ids, get_codec, register_codec

__all__ = [
    "FORMAT_VERSION",
    "CodecConfig",
    "CoordinatesCodec",
    "CountsCodec",
    "DeepCodec",
    "Header",
    "Layout",
    "MaskCodec",
    "MessageCodec",
    "MessageContext",
    "MessageError",
    "PosteriorCounts",
    "QSGDCodec",
    "SZCodec",
    "TensorSpec",
    "UniformCodec",
    "codec_ids",
    "decode",
    "encode",
    "get_codec",
    "layout_of",
    "register_codec",
    "size_report",
]
