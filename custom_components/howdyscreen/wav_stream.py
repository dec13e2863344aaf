"""Incremental parsing of a WAV file that arrives as a stream.

Streaming TTS engines write the WAV header before they know how long the reply
will be, so the RIFF and data sizes are often 0 or 0xFFFFFFFF.  This parser
takes bytes in pieces of any size (even one at a time), learns the format from
the fmt chunk, skips chunks it does not need (LIST, fact, ...) without
buffering them, and from the data chunk on returns raw PCM as soon as it
arrives.

Only 16-bit integer PCM is accepted (format tag 1, or WAVE_FORMAT_EXTENSIBLE
with the PCM sub-format).  Anything else raises `AudioFormatError`, which tells
the caller to hand the stream to ffmpeg instead.

A data chunk with a real size ends the audio at that size; what follows is
skipped, except another complete WAV file in the same format (engines that
synthesize sentence by sentence may send one file per sentence), whose PCM is
returned as a continuation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto
import struct
from typing import Final

WAVE_FORMAT_PCM: Final = 0x0001
WAVE_FORMAT_EXTENSIBLE: Final = 0xFFFE
# The 14 bytes that follow the format tag in a KSDATAFORMAT_SUBTYPE_* GUID.
_GUID_TAIL: Final = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
# Data sizes that mean "unknown, read to the end of the stream".
_UNKNOWN_SIZES: Final = frozenset({0, 0xFFFFFFFF})
_FORMAT_NAMES: Final = {
    0x0002: "ADPCM",
    0x0003: "IEEE float",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0055: "MP3",
}


class AudioFormatError(Exception):
    """The audio is not in a format this module decodes; use ffmpeg instead."""


@dataclass(frozen=True, slots=True)
class WavFormat:
    """What the fmt chunk says about the PCM that follows."""

    sample_rate: int
    channels: int
    bits_per_sample: int = 16

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame (one sample of every channel)."""
        return self.channels * self.bits_per_sample // 8


class _State(Enum):
    RIFF = auto()  # waiting for the 12-byte RIFF/WAVE header
    CHUNK = auto()  # waiting for an 8-byte chunk header
    FMT = auto()  # collecting the fmt chunk's body
    SKIP = auto()  # discarding a chunk we do not need
    DATA = auto()  # returning PCM
    TRAILER = auto()  # after a sized data chunk: another file, or nothing


class WavStreamParser:
    """Feed it a WAV stream piece by piece; it returns the PCM inside.

    `format` is None until the data chunk starts, and is set before the first
    PCM byte is returned.
    """

    def __init__(self) -> None:
        """Start expecting a RIFF header."""
        self.format: WavFormat | None = None
        self._pending_format: WavFormat | None = None
        self._buffer = bytearray()
        self._state = _State.RIFF
        self._need = 12
        self._remaining = 0  # bytes left in the chunk being skipped or read
        self._pad = 0  # the pad byte after an odd-sized chunk
        self._data_left: int | None = None  # None: read to the end of the stream
        self._after_skip = _State.CHUNK
        self.data_bytes = 0

    @property
    def header_complete(self) -> bool:
        """True once the data chunk has started."""
        return self.format is not None

    def feed(self, data: bytes) -> bytes:
        """Take the next bytes of the stream and return the PCM among them."""
        out = bytearray()
        view = memoryview(data)
        while view:
            if self._state is _State.DATA:
                take = len(view) if self._data_left is None else self._data_left
                pcm = view[:take]
                out += pcm
                self.data_bytes += len(pcm)
                view = view[len(pcm) :]
                if self._data_left is not None:
                    self._data_left -= len(pcm)
                    if self._data_left == 0:
                        self._start_trailer()
                continue
            if self._state is _State.SKIP:
                take = min(len(view), self._remaining)
                self._remaining -= take
                view = view[take:]
                if self._remaining == 0:
                    self._end_skip()
                continue
            take = min(len(view), self._need - len(self._buffer))
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) == self._need:
                block = bytes(self._buffer)
                self._buffer.clear()
                self._handle(block)
        return bytes(out)

    def require_format(self) -> WavFormat:
        """Return the format; at the end of a stream, a missing one is an error."""
        if self.format is None:
            raise AudioFormatError("the stream ended before the WAV data chunk")
        return self.format

    # -- state machine ----------------------------------------------------

    def _handle(self, block: bytes) -> None:
        if self._state is _State.RIFF:
            self._parse_riff(block)
        elif self._state is _State.CHUNK:
            self._parse_chunk_header(block)
        elif self._state is _State.FMT:
            self._pending_format = _parse_fmt(block[: self._remaining])
            self._expect_chunk()
        # _State.TRAILER: the first 12 bytes after a sized data chunk.
        elif block[:4] in (b"RIFF", b"RF64") and block[8:12] == b"WAVE":
            self._parse_riff(block)
        else:
            self._skip(2**63)

    def _parse_riff(self, block: bytes) -> None:
        if block[:4] not in (b"RIFF", b"RF64") or block[8:12] != b"WAVE":
            raise AudioFormatError("not a RIFF/WAVE stream")
        self._pending_format = None
        self._expect_chunk()

    def _parse_chunk_header(self, block: bytes) -> None:
        chunk_id = block[:4]
        (size,) = struct.unpack_from("<I", block, 4)
        if chunk_id == b"data":
            if self._pending_format is None:
                raise AudioFormatError("WAV data chunk before its fmt chunk")
            if self.format is not None and self._pending_format != self.format:
                raise AudioFormatError(
                    f"WAV format changed mid-stream: {self.format} -> "
                    f"{self._pending_format}"
                )
            self.format = self._pending_format
            self._state = _State.DATA
            self._data_left = None if size in _UNKNOWN_SIZES else size
            self._pad = size & 1
            return
        if chunk_id == b"fmt ":
            if size < 16:
                raise AudioFormatError(f"WAV fmt chunk too short ({size} bytes)")
            self._state = _State.FMT
            self._need = size + (size & 1)
            self._remaining = size
            return
        self._skip(size + (size & 1))

    def _skip(self, count: int, then: _State = _State.CHUNK) -> None:
        self._after_skip = then
        if count == 0:
            self._end_skip()
            return
        self._state = _State.SKIP
        self._remaining = count

    def _end_skip(self) -> None:
        if self._after_skip is _State.TRAILER:
            self._expect_trailer()
        else:
            self._expect_chunk()

    def _expect_chunk(self) -> None:
        self._state = _State.CHUNK
        self._need = 8

    def _start_trailer(self) -> None:
        """After a sized data chunk: skip its pad byte, then see what follows."""
        pad, self._pad = self._pad, 0
        if pad:
            self._skip(pad, then=_State.TRAILER)
        else:
            self._expect_trailer()

    def _expect_trailer(self) -> None:
        self._state = _State.TRAILER
        self._need = 12


def _parse_fmt(body: bytes) -> WavFormat:
    """Validate a fmt chunk: 16-bit integer PCM, or refuse with the reason."""
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from(
        "<HHIIHH", body
    )
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 40:
            raise AudioFormatError("WAVE_FORMAT_EXTENSIBLE fmt chunk too short")
        guid = body[24:40]
        if guid[2:] != _GUID_TAIL:
            raise AudioFormatError("WAVE_FORMAT_EXTENSIBLE with an unknown sub-format")
        (tag,) = struct.unpack_from("<H", guid)
    if tag != WAVE_FORMAT_PCM:
        name = _FORMAT_NAMES.get(tag, f"format tag 0x{tag:04x}")
        raise AudioFormatError(f"WAV holds {name}, not integer PCM")
    if bits != 16:
        raise AudioFormatError(f"WAV PCM is {bits}-bit, only 16-bit is decoded here")
    if channels == 0 or rate == 0:
        raise AudioFormatError(f"WAV fmt says {channels} channels at {rate} Hz")
    if block_align != channels * 2:
        raise AudioFormatError(
            f"WAV block align {block_align} does not fit {channels} x 16-bit"
        )
    return WavFormat(sample_rate=rate, channels=channels, bits_per_sample=bits)
