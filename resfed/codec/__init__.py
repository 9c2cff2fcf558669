"""The ResFed message codec: top-k sparsification, 1-bit quantisation, entropy coding,
and a versioned, checksummed container whose size is the real volume sent.

>>> import torch
>>> from resfed.codec import CodecConfig, decode, encode, layout_of
>>> state = {"w": torch.tensor([[0.5, -2.0], [0.0, 1.0]]), "n": torch.tensor(7)}
>>> layout = layout_of(state)
>>> data = encode(state, layout, CodecConfig(sparsity=0.5, bits=32), method_id=1, round_index=3)
>>> header, out = decode(data, layout, expected_round=3)
>>> out["w"].tolist(), out["n"].item(), header.round_index
([[0.0, -2.0], [0.0, 1.0]], 7, 3)
"""

from .bounds import size_report
from .config import CodecConfig
from .container import FORMAT_VERSION, Header
from .errors import MessageError
from .layout import Layout, TensorSpec, layout_of
from .pipeline import decode, encode

__all__ = [
    "FORMAT_VERSION",
    "CodecConfig",
    "Header",
    "Layout",
    "MessageError",
    "TensorSpec",
    "decode",
    "encode",
    "layout_of",
    "size_report",
]
