"""Bad messages raise MessageError saying what is wrong and where; bad inputs raise ValueError."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from codec_checks import ALL_CODERS, hashed

from resfed.codec import CodecConfig, MessageError, decode, encode, layout_of
from resfed.codec.bitio import BitWriter
from resfed.codec.framing import put_varint
from resfed.codec.coders import CODERS
from resfed.codec.container import FORMAT_VERSION, Header, Kind, entry_mode, pack
from resfed.codec.layout import layout_digest

STATE = {"w": hashed((6, 10), 1), "b": hashed((6,), 2), "n": torch.tensor(4)}
LAYOUT = layout_of(STATE)
SPARSE = CodecConfig(sparsity=0.8, bits=1)


def message(config: CodecConfig = SPARSE, *, method_id: int = 2, round_index: int = 5) -> bytes:
    return encode(STATE, LAYOUT, config, method_id=method_id, round_index=round_index)


def recrc(data: bytes | bytearray) -> bytes:
    """Fix the CRC after tampering, to reach the checks behind it."""
    body = bytes(data[:-4])
    return body + struct.pack("<I", zlib.crc32(body))


def forge(tensors: list[tuple[int, int, bytes]], stream: bytes = b"", coder: str = "golomb") -> bytes:
    header = Header(FORMAT_VERSION, 2, 5, layout_digest(LAYOUT), CODERS[coder].coder_id)
    return pack(header, tensors, stream)


def raw(index: int, payload: bytes) -> tuple[int, int, bytes]:
    return index, entry_mode(Kind.RAW, False), payload


RAW_INT = raw(2, np.array([4], dtype="<i8").tobytes())


def sign_pos(index: int, k: int, value: float = 0.5) -> tuple[int, int, bytes]:
    payload = bytearray()
    put_varint(payload, k)
    return index, entry_mode(Kind.SIGN_POS, False), bytes(payload) + np.array([value], "<f4").tobytes()


def expect(data: bytes, *fragments: str, layout=LAYOUT, **kw) -> MessageError:
    with pytest.raises(MessageError) as info:
        decode(data, layout, **kw)
    text = str(info.value)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    return info.value


@pytest.mark.parametrize("coder", ALL_CODERS)
def test_every_truncation_is_rejected(coder: str) -> None:
    data = message(CodecConfig(sparsity=0.8, bits=1, coder=coder))
    for cut in range(len(data)):
        with pytest.raises(MessageError, match="truncated|CRC32 mismatch"):
            decode(data[:cut], LAYOUT)


@pytest.mark.parametrize("coder", ALL_CODERS)
def test_every_bit_flip_is_rejected(coder: str) -> None:
    data = message(CodecConfig(sparsity=0.8, bits=1, coder=coder))
    for pos in range(len(data)):
        for bit in (0, 5):
            flipped = bytearray(data)
            flipped[pos] ^= 1 << bit
            with pytest.raises(MessageError):
                decode(bytes(flipped), LAYOUT)


def test_crc_error_says_where() -> None:
    data = bytearray(message())
    data[-6] ^= 0x10
    err = expect(bytes(data), "CRC32 mismatch", "corrupted")
    assert err.offset == len(data) - 4


def test_wrong_magic_version_layout() -> None:
    data = message()
    expect(b"XXXX" + data[4:], "wrong magic", "byte offset 0")
    expect(data[:4] + bytes([FORMAT_VERSION + 1]) + data[5:], "format version", "byte offset 4")
    other = layout_of({"w": torch.zeros(6, 11), "b": torch.zeros(6), "n": torch.tensor(0)})
    expect(data, "layout digest", layout=other)


def test_wrong_method_or_round() -> None:
    data = message(method_id=2, round_index=5)
    expect(data, "method 2, expected 3", expected_method=3)
    expect(data, "round 5, expected 6", expected_round=6)
    decode(data, LAYOUT, expected_method=2, expected_round=5)


def test_payload_past_the_end() -> None:
    data = bytearray(forge([sign_pos(0, 1), RAW_INT], stream=b"\x00"))
    data[17] = 100  # first entry's payload length (after the 15-byte header, count, entry head)
    err = expect(recrc(data), "truncated", "tensor 'w'")
    assert err.tensor == "w"


def test_kept_count_above_numel() -> None:
    expect(forge([sign_pos(0, 61), RAW_INT], b"\x00"), "kept count 61 outside [1, 60]", "tensor 'w'")


def test_raw_payload_of_wrong_size() -> None:
    expect(forge([raw(2, b"\x00" * 7)]), "raw payload of 7 bytes", "implies 8", "tensor 'n'")


def test_integer_tensor_must_be_raw_and_present() -> None:
    expect(forge([sign_pos(2, 1)], b"\x00"), "integer tensor sent as SIGN_POS", "tensor 'n'")
    expect(forge([]), "integer tensor missing", "tensor 'n'")


def test_non_finite_values() -> None:
    expect(forge([sign_pos(0, 1, float("nan")), RAW_INT], b"\x80"), "non-finite value nan", "tensor 'w'")
    lossless = bytearray(message(CodecConfig(sparsity=0.0, bits=32)))
    start = lossless.index(np.array([STATE["w"].reshape(-1)[3].item()], "<f4").tobytes())
    lossless[start : start + 4] = np.array([np.inf], "<f4").tobytes()
    expect(recrc(lossless), "non-finite value inf", "tensor 'w'")


def test_golomb_parameter_out_of_range() -> None:
    out = BitWriter()
    out.ue((1000 - 1) << 1)  # m = 1000 > 60 entries
    expect(forge([sign_pos(0, 1), RAW_INT], out.getvalue()), "Golomb parameter 1000 exceeds", "tensor 'w'")


def test_huffman_kraft_violation() -> None:
    out = BitWriter()
    for value in (0, 2, 0):  # no escapes, 3 distinct symbols, table parameter 1
        out.ue(value)
    out.unary(np.array([0, 0, 0]))  # symbols 0, 1, 2
    out.fields(np.array([0, 0, 0]), 5)  # three codes of length 1
    data = forge([sign_pos(0, 3), RAW_INT], out.getvalue(), coder="huffman")
    expect(data, "Kraft inequality", "tensor 'w'")


def test_unused_stream_bytes() -> None:
    good = message(CodecConfig(sparsity=0.8, bits=1, coder="golomb"))
    data = good[:-4] + b"\x00\x00" + good[-4:]  # two bytes appended to the stream
    err = expect(recrc(data), "unused bytes at the end of the stream")
    assert err.offset is not None


def test_range_coded_stream_not_whole_words() -> None:
    data = forge([sign_pos(0, 1), RAW_INT], b"\x00\x00\x00", coder="context")
    expect(data, "not whole 32-bit words")


def test_unknown_kind_and_coder() -> None:
    expect(forge([(0, 7 << 1, b"")]), "unknown payload kind in entry mode 0xe", "tensor 'w'")
    data = bytearray(forge([RAW_INT]))
    data[14] = 9
    expect(recrc(data), "unknown coder id 9", "byte offset 14")


def test_table_bounds() -> None:
    data = bytearray(forge([RAW_INT]))
    data[15] = 9  # entry count
    expect(recrc(data), "9 table entries, the layout has 3")
    data = bytearray(forge([RAW_INT]))
    data[16] = 7 << 4  # index gap 7 -> index 7
    expect(recrc(data), "tensor index 7 outside the layout")


def test_garbage_stream_is_rejected_not_crashing() -> None:
    rng = np.random.default_rng(0)
    for coder in ALL_CODERS:
        for _ in range(20):
            stream = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
            data = forge(
                [
                    (0, entry_mode(Kind.SIGN_BOTH, False), b"\x05" + np.array([1, -1], "<f4").tobytes()),
                    RAW_INT,
                ],
                stream,
                coder,
            )
            try:
                _, out = decode(data, LAYOUT)
            except MessageError as err:  # inside w's part, or leftovers after it
                assert err.tensor == "w" or "unused bytes" in str(err)
            else:  # a valid decoding: exactly the 5 kept entries announced
                assert int(torch.count_nonzero(out["w"])) == 5


def test_encoder_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="NaN or Inf"):
        encode(
            {**STATE, "b": torch.tensor([1.0, float("nan"), 0, 0, 0, 0])},
            LAYOUT,
            SPARSE,
            method_id=0,
            round_index=0,
        )
    with pytest.raises(ValueError, match="missing \\['n'\\]"):
        encode({"w": STATE["w"], "b": STATE["b"]}, LAYOUT, SPARSE, method_id=0, round_index=0)
    with pytest.raises(ValueError, match="tensor 'w': expected"):
        encode({**STATE, "w": torch.zeros(6, 9)}, LAYOUT, SPARSE, method_id=0, round_index=0)
    with pytest.raises(ValueError, match="method_id"):
        encode(STATE, LAYOUT, SPARSE, method_id=256, round_index=0)
    with pytest.raises(ValueError, match="round_index"):
        encode(STATE, LAYOUT, SPARSE, method_id=0, round_index=-1)
