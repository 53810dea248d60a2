"""Guest RAM mapped into the harness.

QEMU keeps guest RAM in a shared file in the run directory
(``memory-backend-file,share=on``); mapping it gives reads at memory speed
(a page table in microseconds, where GDB's remote protocol needs a packet per
few KiB).  The same bytes the guest sees: writes by the guest appear here at
once, and loadvm rewrites the file in place.

Only the plain RAM of the pc machine is covered: 1 MiB up to the top of RAM
below 4 GiB.  Below 1 MiB, QEMU overlays VGA memory and BIOS ROMs on RAM, so
those addresses (and anything else outside the window) go through GDB.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

LOW_MEMORY_END = 0x100000
# QEMU's pc machine keeps at most this much RAM below 4 GiB when the guest has
# 3.5 GiB or more (the rest is placed above 4 GiB, out of reach of 32-bit paging).
PC_BELOW_4G_LIMIT = 0xC0000000
PC_SPLIT_THRESHOLD = 0xE0000000


def ram_below_4g(ram_bytes: int) -> int:
    """How much of the pc machine's RAM QEMU places below 4 GiB."""
    return PC_BELOW_4G_LIMIT if ram_bytes >= PC_SPLIT_THRESHOLD else ram_bytes


class GuestRam:
    """A read-only window on guest-physical RAM [1 MiB, top of RAM below 4 GiB)."""

    def __init__(self, path: Path, ram_bytes: int) -> None:
        self.end = ram_below_4g(ram_bytes)
        fd = os.open(path, os.O_RDONLY)
        try:
            self._map = mmap.mmap(fd, self.end, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)
        self._view = memoryview(self._map)

    def covers(self, addr: int, size: int) -> bool:
        return addr >= LOW_MEMORY_END and addr + size <= self.end

    def read(self, addr: int, size: int) -> bytes:
        """Bytes of guest RAM from the file.  Raises ValueError outside it
        (see :meth:`covers`)."""
        if not self.covers(addr, size):
            raise ValueError(f"physical range {addr:#x}+{size:#x} is outside mapped RAM")
        return self._view[addr:addr + size].tobytes()

    def close(self) -> None:
        self._view.release()
        self._map.close()
