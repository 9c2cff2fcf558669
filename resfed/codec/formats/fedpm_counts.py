"""FedPM's downlink message: the posterior's integer counts (ones per entry, trials).

Both ends compute theta_global from these counts with the same code, so the downlink is
exact. The counts are range-coded with histograms conditioned on the theta the receiver
holds (``MessageContext.shared``): entries are binned by that theta into ``CONTEXTS``
bins, each with its own histogram.

Frame (:mod:`..frame`, kind 2): a table (trials; per bin the number of distinct values,
then each value as a gap from the previous one and its frequency, all varints), then
the range-coded stream of every bin's entries coded with its histogram.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from ..errors import MessageError
from ..frame import FrameHeader, pack_frame, unpack_exactly
from ..framing import get_varint, put_varint
from ..layout import Layout
from ..message import MessageCodec, MessageContext
from ..rangecoding import (
    Encoder,
    check_exhausted,
    get_histogram_coded,
    put_histogram_coded,
    stream_bytes,
    stream_decoder,
)
from ..registry import register_codec

COUNTS_KIND = 2
CONTEXTS = 16  # bins of the receiver's theta that condition the counts
MAX_TRIALS = 2**32 - 1  # masks counted since a prior reset; bounds every count (int64-safe)


class PosteriorCounts(NamedTuple):
    """Mask bits summed per entry since the last prior reset, and how many masks that is."""

    ones: Mapping[str, torch.Tensor]
    trials: int


def _contexts(theta: Mapping[str, torch.Tensor], layout: Layout) -> np.ndarray:
    """Per entry, the bin of the receiver's theta that conditions its count's code."""
    flat = np.concatenate([theta[spec.name].reshape(-1).numpy() for spec in layout])
    return np.minimum((flat * CONTEXTS).astype(np.int64), CONTEXTS - 1)


@register_codec
@dataclass(frozen=True)
class CountsCodec(MessageCodec):
    """:class:`PosteriorCounts`, conditioned on the receiver's theta."""

    codec_id = "fedpm_counts"

    def encode(self, payload: PosteriorCounts, context: MessageContext) -> bytes:
        ones, trials = payload
        layout = context.layout
        table = bytearray()
        put_varint(table, trials)
        flat = np.concatenate([ones[spec.name].reshape(-1).numpy() for spec in layout])
        contexts = _contexts(context.require_shared("a counts message"), layout)
        encoder = Encoder()
        for context_bin in range(CONTEXTS):
            put_histogram_coded(table, encoder, flat[contexts == context_bin])
        header = FrameHeader(context.method_id, COUNTS_KIND, context.round_index)
        return pack_frame([bytes(table), stream_bytes(encoder)], layout, header)

    def decode(self, data: bytes | bytearray | memoryview, context: MessageContext) -> PosteriorCounts:
        """(ones per entry as int64 tensors, trials)."""
        layout = context.layout
        header = FrameHeader(context.method_id, COUNTS_KIND, context.round_index)
        table, stream = unpack_exactly(data, layout, header, ("table", "stream"))
        trials, pos = get_varint(table, 0, len(table), "trials")
        if trials > MAX_TRIALS:
            raise MessageError(f"{trials} trials, at most {MAX_TRIALS} can be counted", offset=0)
        contexts = _contexts(context.require_shared("a counts message"), layout)
        flat = np.zeros(contexts.size, dtype=np.int64)
        decoder = stream_decoder(stream)
        for context_bin in range(CONTEXTS):
            where = np.flatnonzero(contexts == context_bin)
            flat[where], pos = get_histogram_coded(table, pos, decoder, where.size, trials, f"counts of context {context_bin}")
        if pos != len(table):
            raise MessageError(f"counts table has {len(table) - pos} bytes left over")
        check_exhausted(decoder)
        sizes = np.cumsum([spec.numel for spec in layout])[:-1]
        ones = {
            spec.name: torch.from_numpy(part.reshape(spec.shape)).to(context.device)
            for spec, part in zip(layout, np.split(flat, sizes))
        }
        return PosteriorCounts(ones, trials)
