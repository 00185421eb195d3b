"""How many frames an audio file really holds, read from its container, not from its header.

A decoder that reaches the end of a short file pads the rest with silence: a truncated file,
or one whose header claims far more frames than it carries, reads as complete. These functions
look at the bytes that are there (WAV/AIFF data size, the last intact FLAC frame, the MP3
stream length the encoder recorded) so the reader can refuse such a file. Each returns the
number of frames present, or None where the format gives no way to tell (the file is then
trusted as before).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

__all__ = ["frames_present"]

# Only the end of a FLAC file is searched for its last frame: frames are at most a few
# hundred KB, so a window of this size always holds at least one whole frame header.
_FLAC_TAIL_BYTES = 1 << 20


def frames_present(path: str | os.PathLike[str], header_frames: int) -> int | None:
    """Frames of ``path`` actually stored, for a header that claims ``header_frames``.

    Returns None when the container cannot tell (compressed WAV, OGG, MP3 without an
    encoder tag, a damaged container the decoder reports itself).

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> from stylepedal.audio_io import write_audio
    >>> p = write_audio(os.path.join(tempfile.mkdtemp(), "a.wav"), np.zeros(80, np.float32), 8000)
    >>> frames_present(p, 80)
    80
    """
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if suffix == ".wav":
                return _wav_frames(f, size)
            if suffix in (".aiff", ".aif"):
                return _aiff_frames(f, size)
            if suffix == ".flac":
                return _flac_frames(f, size)
            if suffix == ".mp3":
                return _mp3_frames(f, size, header_frames)
    except (OSError, struct.error, ValueError):
        return None
    return None


def _wav_frames(f: BinaryIO, size: int) -> int | None:
    read = f.read
    head = read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        return None
    pos, block_align, fmt_tag = 12, 0, -1
    while pos + 8 <= size:
        f.seek(pos)
        chunk = read(8)
        cid, csize = chunk[:4], struct.unpack("<I", chunk[4:8])[0]
        if cid == b"fmt ":
            fmt = read(16)
            fmt_tag, _, _, _, block_align, _ = struct.unpack("<HHIIHH", fmt)
        elif cid == b"data":
            # PCM, IEEE float, extensible: one block per frame; other codecs cannot tell
            if fmt_tag not in (1, 3, 0xFFFE) or block_align <= 0:
                return None
            available = size - (pos + 8)
            if head[:4] == b"RIFF" and csize != 0xFFFFFFFF:
                available = min(available, csize)
            return max(available, 0) // block_align
        pos += 8 + csize + (csize & 1)
    return None


def _aiff_frames(f: BinaryIO, size: int) -> int | None:
    read = f.read
    head = read(12)
    if len(head) < 12 or head[:4] != b"FORM" or head[8:12] not in (b"AIFF", b"AIFC"):
        return None
    pos, frame_bytes = 12, 0
    while pos + 8 <= size:
        f.seek(pos)
        chunk = read(8)
        cid, csize = chunk[:4], struct.unpack(">I", chunk[4:8])[0]
        if cid == b"COMM":
            comm = read(min(csize, 26))
            channels, _, bits = struct.unpack(">hIh", comm[:8])
            if head[8:12] == b"AIFC" and comm[18:22] not in (b"NONE", b"sowt", b"fl32", b"FL32"):
                return None
            frame_bytes = channels * ((bits + 7) // 8)
        elif cid == b"SSND":
            if frame_bytes <= 0:
                return None
            offset = struct.unpack(">I", read(4))[0]
            start = pos + 16 + offset
            available = min(size - start, csize - 8 - offset)
            return max(available, 0) // frame_bytes
        pos += 8 + csize + (csize & 1)
    return None


def _flac_frames(f: BinaryIO, size: int) -> int | None:
    read = f.read
    if read(4) != b"fLaC":
        return None
    pos, total, fixed_block, audio_start, max_frame = 4, 0, 0, 0, 0
    while True:
        f.seek(pos)
        hdr = read(4)
        if len(hdr) < 4:
            return None
        last, btype, length = hdr[0] >> 7, hdr[0] & 0x7F, int.from_bytes(hdr[1:4], "big")
        if btype == 0:
            info = read(18)
            min_block, max_block = struct.unpack(">HH", info[:4])
            fixed_block = max_block if min_block == max_block else 0
            packed = int.from_bytes(info[10:18], "big")
            channels, bits = ((packed >> 41) & 7) + 1, ((packed >> 36) & 31) + 1
            total = packed & ((1 << 36) - 1)
            # the largest frame the encoder wrote, or the largest an uncompressed one can be
            max_frame = int.from_bytes(info[7:10], "big") or (
                max_block * channels * ((bits + 7) // 8) + 64
            )
        pos += 4 + length
        if last:
            audio_start = pos
            break
    if total == 0:
        return None  # the encoder did not record a length
    end = size
    f.seek(max(end - 128, 0))
    if read(3) == b"TAG":  # an ID3v1 tag after the audio
        end -= 128
    start = max(audio_start, end - _FLAC_TAIL_BYTES)
    f.seek(start)
    tail = read(end - start)
    # The last frame starts at most one frame before the end: a header there whose frame
    # checks out (CRC-16 to the end) says where the audio ends; none means it is cut short.
    nearest = max(len(tail) - max_frame - 16, 0)
    cut_at: int | None = None
    i = len(tail)
    while i > 0:
        i = tail.rfind(b"\xff", 0, i)
        if i < 0:
            break
        if i < nearest and cut_at is not None:
            break
        parsed = _flac_frame_header(tail, i, fixed_block)
        if parsed is None or parsed[0] + parsed[1] > total:
            continue
        first, block = parsed
        if i >= nearest and _crc16(tail[i:]) == 0:
            return first + block  # the last frame is whole
        if cut_at is None:
            cut_at = first
    # the last frame is cut short: what is there ends where that frame starts
    return cut_at if cut_at is not None else 0


_BLOCK_SIZES = {1: 192, 2: 576, 3: 1152, 4: 2304, 5: 4608}


def _flac_frame_header(data: bytes, i: int, fixed_block: int) -> tuple[int, int] | None:
    """(first sample, block size) of a FLAC frame header at ``data[i]`` whose CRC-8 holds."""
    if i + 6 > len(data) or data[i + 1] & 0xFE != 0xF8:
        return None
    variable = data[i + 1] & 1
    bs_code, sr_code = data[i + 2] >> 4, data[i + 2] & 0x0F
    if bs_code == 0 or sr_code == 15 or data[i + 3] & 1:
        return None
    j = i + 4
    lead = data[j]
    n_extra = 0
    while n_extra < 7 and lead & (0x80 >> n_extra):
        n_extra += 1
    if n_extra == 1 or n_extra > 7:
        return None
    number = lead & (0x7F >> n_extra) if n_extra else lead
    count = n_extra - 1 if n_extra else 0
    if j + 1 + count > len(data):
        return None
    for k in range(count):
        byte = data[j + 1 + k]
        if byte & 0xC0 != 0x80:
            return None
        number = (number << 6) | (byte & 0x3F)
    j += 1 + count
    if bs_code in _BLOCK_SIZES:
        block = _BLOCK_SIZES[bs_code]
    elif bs_code == 6:
        block, j = data[j] + 1, j + 1
    elif bs_code == 7:
        block, j = int.from_bytes(data[j:j + 2], "big") + 1, j + 2
    elif bs_code >= 8:
        block = 256 << (bs_code - 8)
    else:
        return None
    if sr_code == 12:
        j += 1
    elif sr_code in (13, 14):
        j += 2
    if j >= len(data) or _crc8(data[i:j]) != data[j]:
        return None
    if variable:
        return number, block
    if fixed_block <= 0:
        return None
    return number * fixed_block, block


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def _table(poly: int, bits: int) -> list[int]:
    top, mask = 1 << (bits - 1), (1 << bits) - 1
    out = []
    for n in range(256):
        c = n << (bits - 8)
        for _ in range(8):
            c = ((c << 1) ^ poly) if c & top else (c << 1)
        out.append(c & mask)
    return out


_CRC8 = _table(0x07, 8)
_CRC16 = _table(0x8005, 16)


def _mp3_frames(f: BinaryIO, size: int, header_frames: int) -> int | None:
    """Scale the claimed frames by the stream bytes present over those the encoder's
    Xing/Info tag recorded (LAME writes it; without one the decoder's count is trusted)."""
    read = f.read
    start = 0
    head = read(10)
    if head[:3] == b"ID3" and len(head) == 10:
        start = 10 + ((head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9])
    f.seek(start)
    frame = read(200)
    if len(frame) < 4 or frame[0] != 0xFF or frame[1] & 0xE0 != 0xE0:
        return None
    k = max(frame.find(b"Xing"), frame.find(b"Info"))
    if k < 0 or k + 16 > len(frame):
        return None
    flags = struct.unpack(">I", frame[k + 4:k + 8])[0]
    if not flags & 2:
        return None
    offset = k + 8 + (4 if flags & 1 else 0)
    recorded = struct.unpack(">I", frame[offset:offset + 4])[0]
    end = size
    f.seek(max(end - 128, 0))
    if read(3) == b"TAG":
        end -= 128
    present = end - start
    if recorded <= 0 or present >= recorded:
        return header_frames
    return int(header_frames * present / recorded)
