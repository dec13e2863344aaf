"""The streamed WAV header parser."""

from __future__ import annotations

import io
import struct
import wave

import pytest

from custom_components.howdyscreen.wav_stream import (
    AudioFormatError,
    WavFormat,
    WavStreamParser,
)

PCM = bytes(range(256)) * 8 + b"\x07\x08"  # 2050 bytes, whole 16-bit stereo frames
PCM_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def chunk(chunk_id: bytes, body: bytes, size: int | None = None) -> bytes:
    pad = b"\x00" if len(body) % 2 else b""
    return (
        chunk_id + struct.pack("<I", len(body) if size is None else size) + body + pad
    )


def fmt_body(
    tag: int = 1, channels: int = 2, rate: int = 22050, bits: int = 16
) -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)


def extensible_body(
    subformat: int = 1, bits: int = 16, tail: bytes = PCM_GUID_TAIL
) -> bytes:
    base = fmt_body(0xFFFE, 2, 48000, bits)
    return base + struct.pack("<HHI", 22, bits, 3) + struct.pack("<H", subformat) + tail


def wav(*chunks: bytes, riff_size: int = 0xFFFFFFFF, magic: bytes = b"RIFF") -> bytes:
    return magic + struct.pack("<I", riff_size) + b"WAVE" + b"".join(chunks)


def parse_bytewise(data: bytes) -> tuple[WavStreamParser, bytes]:
    parser = WavStreamParser()
    return parser, b"".join(parser.feed(data[i : i + 1]) for i in range(len(data)))


def test_python_wave_file_split_at_every_boundary() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(22050)
        writer.writeframes(PCM)
    data = buffer.getvalue()
    for split in range(len(data) + 1):
        parser = WavStreamParser()
        out = parser.feed(data[:split])
        if split < 44:
            assert parser.format is None
            assert out == b""
        out += parser.feed(data[split:])
        assert out == PCM
        assert parser.format == WavFormat(22050, 2, 16)
        assert parser.require_format().frame_bytes == 4
    parser, out = parse_bytewise(data)
    assert out == PCM
    assert parser.data_bytes == len(PCM)


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_unknown_data_size_streams_to_the_end(size: int) -> None:
    data = wav(chunk(b"fmt ", fmt_body()), b"data" + struct.pack("<I", size)) + PCM
    parser, out = parse_bytewise(data)
    assert out == PCM
    parser.feed(b"more")
    assert parser.data_bytes == len(PCM) + 4


def test_other_chunks_are_skipped() -> None:
    data = wav(
        chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00Lavf\x00\x00"),
        chunk(b"fmt ", fmt_body(channels=1, rate=24000)),
        chunk(b"fact", b"\x01\x02\x03"),  # odd size: padded
        chunk(b"junk", b""),
        chunk(b"data", PCM),
    )
    parser, out = parse_bytewise(data)
    assert out == PCM
    assert parser.format == WavFormat(24000, 1)
    assert parser.header_complete


def test_odd_fmt_chunk_with_extra_bytes() -> None:
    data = wav(chunk(b"fmt ", fmt_body() + b"\x00\x00\x09"), chunk(b"data", PCM))
    assert parse_bytewise(data)[1] == PCM


def test_sized_data_ends_the_audio_and_trailing_chunks_are_ignored() -> None:
    data = wav(
        chunk(b"fmt ", fmt_body()),
        chunk(b"data", PCM[:1001]),  # odd: pad byte follows
        chunk(b"LIST", b"INFOabcd"),
    )
    parser, out = parse_bytewise(data)
    assert out == PCM[:1001]
    assert parser.feed(b"anything after") == b""


def test_concatenated_files_continue_the_audio() -> None:
    first = wav(chunk(b"fmt ", fmt_body()), chunk(b"data", PCM[:1000]), riff_size=1036)
    second = wav(chunk(b"fmt ", fmt_body()), chunk(b"data", PCM[1000:]))
    assert parse_bytewise(first + second)[1] == PCM


def test_concatenated_file_in_another_format_is_refused() -> None:
    first = wav(chunk(b"fmt ", fmt_body()), chunk(b"data", PCM[:1000]))
    second = wav(chunk(b"fmt ", fmt_body(rate=16000)), chunk(b"data", PCM[1000:]))
    parser = WavStreamParser()
    with pytest.raises(AudioFormatError, match="changed"):
        parser.feed(first + second)


def test_extensible_pcm() -> None:
    data = wav(chunk(b"fmt ", extensible_body()), chunk(b"data", PCM))
    parser, out = parse_bytewise(data)
    assert out == PCM
    assert parser.format == WavFormat(48000, 2, 16)


def test_rf64_with_ds64() -> None:
    data = wav(
        chunk(b"ds64", bytes(28)),
        chunk(b"fmt ", fmt_body()),
        b"data\xff\xff\xff\xff",
        magic=b"RF64",
    )
    assert parse_bytewise(data + PCM)[1] == PCM


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (fmt_body(bits=8), "8-bit"),
        (fmt_body(bits=24), "24-bit"),
        (fmt_body(tag=3, bits=32), "IEEE float"),
        (fmt_body(tag=0x55), "MP3"),
        (fmt_body(tag=0x1234), "0x1234"),
        (extensible_body(subformat=3, bits=32), "IEEE float"),
        (extensible_body(tail=bytes(14)), "unknown sub-format"),
        (fmt_body()[:14], "fmt chunk too short"),
        (fmt_body(0xFFFE), "EXTENSIBLE fmt chunk too short"),
        (fmt_body(channels=0), "0 channels"),
        (fmt_body(rate=0), "0 Hz"),
        (struct.pack("<HHIIHH", 1, 2, 8000, 32000, 2, 16), "block align"),
    ],
)
def test_unsupported_formats_raise(body: bytes, message: str) -> None:
    data = wav(chunk(b"fmt ", body), chunk(b"data", PCM))
    with pytest.raises(AudioFormatError, match=message):
        WavStreamParser().feed(data)


def test_not_a_wav() -> None:
    with pytest.raises(AudioFormatError, match="RIFF"):
        WavStreamParser().feed(b"ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00")
    with pytest.raises(AudioFormatError, match="RIFF"):
        WavStreamParser().feed(b"RIFF\x00\x00\x00\x00AVI LIST")


def test_data_before_fmt() -> None:
    with pytest.raises(AudioFormatError, match="before its fmt"):
        WavStreamParser().feed(wav(chunk(b"data", PCM)))


def test_truncated_header() -> None:
    parser = WavStreamParser()
    parser.feed(wav(chunk(b"fmt ", fmt_body()))[:30])
    with pytest.raises(AudioFormatError, match="ended before"):
        parser.require_format()
