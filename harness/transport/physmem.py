"""Guest RAM mapped into the harness.

QEMU keeps guest RAM in a shared file in the run directory
(``memory-backend-file,share=on``); mapping it gives reads at memory speed
(a page table in microseconds, where GDB's remote protocol needs a packet per
few KiB).  The same bytes the guest sees: writes by the guest appear here at
once, and loadvm rewrites the file in place.

The pc machine splits RAM in two (harness/decode/qemunuma.py has the
layout): up to 3 GiB (when the guest has 3.5 GiB or more) at guest-physical
0, the rest at 4 GiB.  The file holds the two parts back to back: the part
below 4 GiB at offset 0, the part above 4 GiB right after it.  A NUMA
machine has one file per node, and QEMU lays the nodes one after another
before it splits (qemunuma.node_ranges): the files concatenated are the one
file of a machine without nodes.  Only plain RAM is covered: below 1 MiB
QEMU overlays VGA memory and BIOS ROMs on RAM, so those addresses go
through GDB.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from harness.decode.qemunuma import FOUR_GIB, ram_below_4g, ram_ranges

LOW_MEMORY_END = 0x100000
__all__ = ["FOUR_GIB", "GuestRam", "file_offset", "ram_below_4g", "ram_ranges"]


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
    all RAM above 4 GiB.  Reads come from read-only mappings of the RAM
    files (``paths``: one, or one per NUMA node in node order, their sizes
    adding up to ``ram_bytes``); writes (see :meth:`write`) go to the files."""

    def __init__(self, paths: Path | Sequence[Path], ram_bytes: int) -> None:
        self.ram_bytes = ram_bytes
        self.end = ram_below_4g(ram_bytes)
        self._paths = [paths] if isinstance(paths, Path) else list(paths)
        self._parts: list[tuple[int, int, memoryview, mmap.mmap]] = []  # start, end, view, map
        start = 0
        for path in self._paths:
            size = ram_bytes if len(self._paths) == 1 else os.path.getsize(path)
            fd = os.open(path, os.O_RDONLY)
            try:
                mapping = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
            finally:
                os.close(fd)
            self._parts.append((start, start + size, memoryview(mapping), mapping))
            start += size
        if start != ram_bytes:
            self.close()
            raise ValueError(f"RAM files {[str(p) for p in self._paths]} hold {start:#x} bytes, "
                             f"the machine has {ram_bytes:#x}")

    def _pieces(self, offset: int, size: int) -> Iterator[tuple[int, int, int]]:
        """(part index, offset in that part, length) covering [offset, offset + size)
        of the concatenated files: more than one piece only across a node's end."""
        for index, (start, end, _view, _map) in enumerate(self._parts):
            if size > 0 and start <= offset < end:
                length = min(size, end - offset)
                yield index, offset - start, length
                offset += length
                size -= length

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
        return b"".join(self._parts[i][2][at:at + length].tobytes()
                        for i, at, length in self._pieces(offset, size))

    def write(self, addr: int, data: bytes) -> None:
        """Write guest RAM in the file.  QEMU maps the same file shared, so the
        guest sees the bytes at once, as if a device had written them.  Safe for
        data in plain RAM; QEMU does not notice the write, so code it already
        translated from these bytes would go on running (GDB's writes avoid
        that, but GDB's i386 addresses stop at 4 GiB)."""
        offset = self._offset(addr, len(data))
        if offset is None:
            raise ValueError(f"physical range {addr:#x}+{len(data):#x} is outside mapped RAM")
        done = 0
        for i, at, length in list(self._pieces(offset, len(data))):
            path = self._paths[i]
            fd = os.open(path, os.O_WRONLY)
            try:
                if os.pwrite(fd, data[done:done + length], at) != length:
                    raise OSError(f"short write to {path} at {at:#x}")
            finally:
                os.close(fd)
            done += length

    def close(self) -> None:
        for _start, _end, view, mapping in self._parts:
            view.release()
            mapping.close()
        self._parts = []
