"""The compressed swap pool's format (firmware/include/lib/lz.h), on the host.

``decompress`` reads what the kernel's lz_compress wrote, so a test can check a
page held in the pool against the data the program wrote, from guest RAM,
without asking the kernel.  ``compress`` writes the same format (simply: one
match search per position over a window of earlier positions); the unit tests
use it to feed the kernel's decompressor.
"""

from __future__ import annotations

MIN_MATCH = 4
NIBBLE_MAX = 15


class LzError(ValueError):
    """Input that is not valid compressed data."""


def _read_length(src: bytes, i: int, length: int) -> tuple[int, int]:
    while True:
        if i >= len(src):
            raise LzError("a length runs past the end of the input")
        b = src[i]
        i += 1
        length += b
        if b != 255:
            return length, i


def decompress(src: bytes, limit: int = 1 << 16) -> bytes:
    """The bytes src decodes to (at most ``limit``).  Raises LzError for a
    malformed input, as the kernel's decoder returns -1."""
    out = bytearray()
    i = 0
    while i < len(src):
        token = src[i]
        i += 1
        nlit = token >> 4
        if nlit == NIBBLE_MAX:
            nlit, i = _read_length(src, i, nlit)
        if i + nlit > len(src) or len(out) + nlit > limit:
            raise LzError("literals run past the input or the output")
        out += src[i:i + nlit]
        i += nlit
        if i == len(src):
            break
        if i + 2 > len(src):
            raise LzError("a match's distance is cut off")
        dist = src[i] | src[i + 1] << 8
        i += 2
        mlen = token & NIBBLE_MAX
        if mlen == NIBBLE_MAX:
            mlen, i = _read_length(src, i, mlen)
        mlen += MIN_MATCH
        if dist == 0 or dist > len(out) or len(out) + mlen > limit:
            raise LzError(f"a match at distance {dist} of {mlen} bytes does not fit")
        for _ in range(mlen):  # byte by byte: a match may overlap its own output
            out.append(out[-dist])
    return bytes(out)


def _length_bytes(rest: int) -> bytes:
    return b"\xff" * (rest // 255) + bytes([rest % 255])


def _token(literals: bytes, mlen: int, dist: int) -> bytes:
    mcode = mlen - MIN_MATCH if mlen else 0
    out = bytearray([min(len(literals), NIBBLE_MAX) << 4 | min(mcode, NIBBLE_MAX)])
    if len(literals) >= NIBBLE_MAX:
        out += _length_bytes(len(literals) - NIBBLE_MAX)
    out += literals
    if mlen:
        out += bytes([dist & 0xFF, dist >> 8])
        if mcode >= NIBBLE_MAX:
            out += _length_bytes(mcode - NIBBLE_MAX)
    return bytes(out)


def compress(data: bytes, window: int = 256) -> bytes:
    """data in the kernel's format (inputs up to 64 KiB)."""
    if len(data) > 1 << 16:
        raise ValueError("lz handles at most 64 KiB at a time")
    out = bytearray()
    anchor = pos = 0
    while pos + MIN_MATCH <= len(data):
        best_len = best_dist = 0
        for cand in range(max(0, pos - window), pos):
            n = 0
            while pos + n < len(data) and data[cand + n] == data[pos + n]:
                n += 1
            if n > best_len:
                best_len, best_dist = n, pos - cand
        if best_len < MIN_MATCH:
            pos += 1
            continue
        out += _token(data[anchor:pos], best_len, best_dist)
        pos += best_len
        anchor = pos
    out += _token(data[anchor:], 0, 0)
    return bytes(out)
