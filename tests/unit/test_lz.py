"""The kernel's page compressor (firmware/lib/lz.c), compiled for the host and
checked against the host-side decoder (harness/decode/lz.py): round trips of
the page shapes swap sees, the format read both ways, and malformed input
refused without a byte written outside the output."""

from __future__ import annotations

import ctypes
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.decode import lz
from tests.pages import text_page

ROOT = Path(__file__).resolve().parents[2]
PAGE = 4096
CAP = 3072  # ZSWAP_MAX_COMPRESSED: what the pool accepts


@pytest.fixture(scope="module")
def clz(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    gcc = shutil.which("gcc")
    assert gcc, "gcc builds the firmware; it must be installed"
    so = tmp_path_factory.mktemp("lz") / "lz.so"
    subprocess.run([gcc, "-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-include", "string.h",
                    f"-I{ROOT / 'firmware/include'}", str(ROOT / "firmware/lib/lz.c"),
                    "-o", str(so)], check=True)
    lib = ctypes.CDLL(str(so))
    lib.lz_compress.restype = ctypes.c_uint32
    lib.lz_decompress.restype = ctypes.c_int32
    return lib


def c_compress(lib: ctypes.CDLL, data: bytes, cap: int = CAP, work: bytes | None = None) -> bytes:
    dst = ctypes.create_string_buffer(cap)
    table = ctypes.create_string_buffer(work if work is not None else bytes(4 << 12), 4 << 12)
    n = lib.lz_compress(data, len(data), dst, cap, table)
    return dst.raw[:n]


def c_decompress(lib: ctypes.CDLL, src: bytes, cap: int = PAGE) -> tuple[int, bytes, bytes]:
    """(result, output, the 64 guard bytes after it) for a buffer of cap."""
    buf = ctypes.create_string_buffer(b"\xa5" * (cap + 64), cap + 64)
    n = lib.lz_decompress(src, len(src), buf, cap)
    return n, buf.raw[:max(n, 0)], buf.raw[cap:]




SHAPES = {
    "zero": bytes(PAGE),
    "text": text_page(1),
    "records": b"".join(b"rec%05d:" % i + bytes(7) for i in range(PAGE // 16)),
    "ab": b"ab" * (PAGE // 2),
    "half-random": random.Random(2).randbytes(PAGE // 2) + bytes(PAGE // 2),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_c_output_decodes_on_the_host(clz: ctypes.CDLL, shape: str) -> None:
    data = SHAPES[shape]
    packed = c_compress(clz, data)
    assert 0 < len(packed) <= CAP
    assert lz.decompress(packed) == data
    n, out, guard = c_decompress(clz, packed)
    assert (n, out, guard) == (PAGE, data, b"\xa5" * 64)


def test_ratios_swap_relies_on(clz: ctypes.CDLL) -> None:
    # The bench's text workload must compress at least 2:1, a zero page to a few bytes.
    assert len(c_compress(clz, SHAPES["text"])) * 2 <= PAGE
    assert len(c_compress(clz, SHAPES["zero"])) <= 24


def test_incompressible_pages_do_not_fit(clz: ctypes.CDLL) -> None:
    assert c_compress(clz, random.Random(3).randbytes(PAGE)) == b""
    counter = b"".join(i.to_bytes(4, "little") for i in range(PAGE // 4))  # no 4-byte repeats
    assert c_compress(clz, counter) == b""
    assert c_compress(clz, SHAPES["text"], cap=100) == b""  # the cap is honoured, not overrun


def test_stale_hash_table_is_only_a_hint(clz: ctypes.CDLL) -> None:
    # The table is never cleared: garbage from another page must not corrupt the output.
    garbage = random.Random(4).randbytes(4 << 12)
    for shape, data in SHAPES.items():
        packed = c_compress(clz, data, work=garbage)
        assert lz.decompress(packed) == data, shape


def test_host_output_decodes_in_the_kernel(clz: ctypes.CDLL) -> None:
    for data in (SHAPES["text"], SHAPES["ab"], b"abc" * 100 + b"x" * 300, b"", b"xyz"):
        packed = lz.compress(data)
        n, out, _ = c_decompress(clz, packed, cap=max(len(data), 1))
        assert (n, out) == (len(data), data)


def test_long_lengths_use_extension_bytes() -> None:
    data = bytes(range(256)) * 2 + b"q" * 600
    packed = lz.compress(data)
    assert packed[0] >> 4 == 15 and lz.decompress(packed) == data


@pytest.mark.parametrize("bad", [
    b"\x10",                      # one literal promised, none there
    b"\x00\x05\x00",              # a match at distance 5 with nothing written
    b"\x10a\x00\x00",             # distance 0
    b"\x10a\x01",                 # distance cut off
    b"\xf0\xff",                  # a literal length that never ends
    b"\x1fa\x01\x00\xff\xff\xff",  # a match length that never ends
])
def test_malformed_input_is_refused(clz: ctypes.CDLL, bad: bytes) -> None:
    n, _, guard = c_decompress(clz, bad)
    assert (n, guard) == (-1, b"\xa5" * 64)
    with pytest.raises(lz.LzError):
        lz.decompress(bad)


def test_output_never_passes_cap(clz: ctypes.CDLL) -> None:
    packed = c_compress(clz, SHAPES["zero"])
    n, _, guard = c_decompress(clz, packed, cap=PAGE - 1)
    assert (n, guard) == (-1, b"\xa5" * 64)
    with pytest.raises(lz.LzError):
        lz.decompress(packed, limit=PAGE - 1)


def mixed_page(seed: int) -> bytes:
    """Text with random runs and short-period runs: every kind of token, at
    every distance from both ends of the buffers."""
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < PAGE:
        kind = rnd.randrange(4)
        if kind == 0:
            out += rnd.randbytes(rnd.randrange(1, 40))
        elif kind == 1:
            out += bytes([rnd.randrange(256)]) * rnd.randrange(1, 30)
        elif kind == 2:
            out += b"xyz"[: rnd.randrange(1, 4)] * rnd.randrange(2, 12)
        else:
            out += text_page(rnd.randrange(1000))[: rnd.randrange(5, 120)]
    return bytes(out[:PAGE])


@pytest.mark.parametrize("seed", range(24))
def test_round_trips_of_every_token_kind(clz: ctypes.CDLL, seed: int) -> None:
    for data in (text_page(100 + seed), mixed_page(seed), mixed_page(seed)[: 1000 + 97 * seed]):
        packed = c_compress(clz, data, cap=PAGE + PAGE // 2)
        assert packed and lz.decompress(packed) == data
        n, out, guard = c_decompress(clz, packed, cap=len(data))
        assert (n, out, guard) == (len(data), data, b"\xa5" * 64)


def test_damaged_input_never_writes_outside_the_output(clz: ctypes.CDLL) -> None:
    # The fast loop copies fixed-size words past each run; whatever the input
    # says, nothing lands beyond cap.
    rnd = random.Random(5)
    packed = bytearray(c_compress(clz, text_page(7)))
    for _ in range(400):
        damaged = bytearray(packed)
        for _ in range(rnd.randrange(1, 6)):
            damaged[rnd.randrange(len(damaged))] = rnd.randrange(256)
        n, _, guard = c_decompress(clz, bytes(damaged[: rnd.randrange(1, len(damaged) + 1)]),
                                   cap=rnd.choice([PAGE, 100, 37]))
        assert guard == b"\xa5" * 64 and n <= PAGE
