"""What both ends know about a model before any message: names, dtypes and shapes.

Messages never repeat names or shapes; they carry a 32-bit digest of the layout so that
a receiver built for another model fails loudly instead of decoding garbage.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

#: Integer-like dtypes stored raw (exactly); their payload uses this many bytes per entry.
RAW_DTYPES: dict[torch.dtype, str] = {
    torch.bool: "|b1",
    torch.uint8: "|u1",
    torch.int8: "|i1",
    torch.int16: "<i2",
    torch.int32: "<i4",
    torch.int64: "<i8",
}
#: Floating dtypes go through the lossy pipeline and come back as float32.
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass(frozen=True)
class TensorSpec:
    """One state entry: its name, dtype and shape."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.dtype not in RAW_DTYPES and self.dtype not in FLOAT_DTYPES:
            raise ValueError(f"tensor {self.name!r}: unsupported dtype {self.dtype}")
        if any(d < 0 for d in self.shape):
            raise ValueError(f"tensor {self.name!r}: negative dimension in shape {self.shape}")

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES


Layout = tuple[TensorSpec, ...]


def layout_of(state: Mapping[str, torch.Tensor]) -> Layout:
    """The layout of a state dict, in its iteration order."""
    return tuple(TensorSpec(name, t.dtype, tuple(t.shape)) for name, t in state.items())


def layout_digest(layout: Layout) -> int:
    """32-bit digest of names, dtypes and shapes, stored in every message header."""
    text = ";".join(f"{s.name}|{str(s.dtype).removeprefix('torch.')}|{s.shape}" for s in layout)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "little")


def payload_dtype(spec: TensorSpec) -> str:
    """The numpy dtype of a tensor's raw payload: float32 for floats, else its own dtype."""
    return "<f4" if spec.is_float else RAW_DTYPES[spec.dtype]
