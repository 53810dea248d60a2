"""Guest RAM mapped into the harness.

QEMU keeps guest RAM in a shared file in the run directory
(``memory-backend-file,share=on``); mapping it gives reads at memory speed
(a page table in microseconds, where GDB's remote protocol needs a packet per
few KiB).  The same bytes the guest sees: writes by the guest appear here at
once, and loadvm rewrites the file in place.

The pc machine splits RAM in two: up to 3 GiB (when the guest has 3.5 GiB or
more) at guest-physical 0, the rest at 4 GiB.  The file holds the two parts
back to back: the part below 4 GiB at offset 0, the part above 4 GiB right
after it.  Only plain RAM is covered: below 1 MiB QEMU overlays VGA memory and
BIOS ROMs on RAM, so those addresses go through GDB.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

LOW_MEMORY_END = 0x100000
FOUR_GIB = 1 << 32
# QEMU's pc (i440FX) machine keeps at most this much RAM below 4 GiB when the
# guest has 3.5 GiB or more; the rest is placed at 4 GiB (reachable only with PAE).
PC_BELOW_4G_LIMIT = 0xC0000000
PC_SPLIT_THRESHOLD = 0xE0000000


def ram_below_4g(ram_bytes: int) -> int:
    """How much of the pc machine's RAM QEMU places below 4 GiB."""
    return PC_BELOW_4G_LIMIT if ram_bytes >= PC_SPLIT_THRESHOLD else ram_bytes


def ram_ranges(ram_bytes: int) -> list[tuple[int, int]]:
    """Every guest-physical RAM range [start, end) of a pc machine with
    ``ram_bytes`` of RAM: below 4 GiB, and above 4 GiB when RAM is split."""
    below = ram_below_4g(ram_bytes)
    ranges = [(0, below)]
    if ram_bytes > below:
        ranges.append((FOUR_GIB, FOUR_GIB + ram_bytes - below))
    return ranges


def file_offset(addr: int, size: int, ram_bytes: int) -> int | None:
    """Where guest-physical [addr, addr + size) starts in the RAM file, or
    None unless the range lies wholly inside one RAM range (a range crossing
    the hole between the top of low RAM and 4 GiB is not RAM)."""
    if size < 1:
        return None
    file_start = 0  # where the current range begins in the file
    for start, end in ram_ranges(ram_bytes):
        if start <= addr and addr + size <= end:
            return file_start + addr - start
        file_start += end - start
    return None


class GuestRam:
    """A window on guest-physical RAM: [1 MiB, top of RAM below 4 GiB) and
    all RAM above 4 GiB.  Reads come from a read-only mapping; writes (see
    :meth:`write`) go to the file."""

    def __init__(self, path: Path, ram_bytes: int) -> None:
        self.ram_bytes = ram_bytes
        self.end = ram_below_4g(ram_bytes)
        self._path = path
        fd = os.open(path, os.O_RDONLY)
        try:
            self._map = mmap.mmap(fd, ram_bytes, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)
        self._view = memoryview(self._map)

    def _offset(self, addr: int, size: int) -> int | None:
        if addr < LOW_MEMORY_END:
            return None
        return file_offset(addr, size, self.ram_bytes)

    def covers(self, addr: int, size: int) -> bool:
        return self._offset(addr, size) is not None

    def read(self, addr: int, size: int) -> bytes:
        """Bytes of guest RAM from the file.  Raises ValueError outside it
        (see :meth:`covers`)."""
        offset = self._offset(addr, size)
        if offset is None:
            raise ValueError(f"physical range {addr:#x}+{size:#x} is outside mapped RAM")
        return self._view[offset:offset + size].tobytes()

    def write(self, addr: int, data: bytes) -> None:
        """Write guest RAM in the file.  QEMU maps the same file shared, so the
        guest sees the bytes at once, as if a device had written them.  Safe for
        data in plain RAM; QEMU does not notice the write, so code it already
        translated from these bytes would go on running (GDB's writes avoid
        that, but GDB's i386 addresses stop at 4 GiB)."""
        offset = self._offset(addr, len(data))
        if offset is None:
            raise ValueError(f"physical range {addr:#x}+{len(data):#x} is outside mapped RAM")
        fd = os.open(self._path, os.O_WRONLY)
        try:
            if os.pwrite(fd, data, offset) != len(data):
                raise OSError(f"short write to {self._path} at {offset:#x}")
        finally:
            os.close(fd)

    def close(self) -> None:
        self._view.release()
        self._map.close()
