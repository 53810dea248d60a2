"""Parsers for QEMU's own views of the machine (human-monitor output): the
oracle the harness and the kernel are checked against.  Pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass

# "0000000000000000-00000000bfffffff (prio 0, ram): ram"
_MTREE_RAM = re.compile(r"^\s*([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, ram\): (\S+)")
# "00000000c0100000-00000000c0105000 0000000000005000 -r-"
_INFO_MEM = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) ([0-9a-f]+) ([-u])r([-w])$")
# "00000000c0100000: 0000000000100000 -G--A----"; the columns are X(NX) G(global)
# P(PS) D A C(PCD) T(PWT) U W, each from the entry that maps the page itself.
_INFO_TLB = re.compile(r"^([0-9a-f]+): ([0-9a-f]+) ([-X])([-G])([-P])([-D])([-A])([-C])([-T])"
                       r"([-U])([-W])$")


def ram_ranges(mtree_flat: str) -> list[tuple[int, int]]:
    """Guest-physical RAM [start, end) as the CPU sees it, from ``info mtree -f``
    (the flat view whose address spaces include "memory").  Raises ValueError
    when the text has no such view."""
    for block in mtree_flat.split("FlatView #")[1:]:
        if ' AS "memory"' not in block:
            continue
        ranges = []
        for line in block.splitlines():
            m = _MTREE_RAM.match(line)
            if m:
                ranges.append((int(m.group(1), 16), int(m.group(2), 16) + 1))
        return ranges
    raise ValueError("no flat view of the \"memory\" address space in info mtree -f")


@dataclass(frozen=True)
class MemRegion:
    """One line of ``info mem``: a virtual range with the same protection.
    QEMU prints the same format under PAE, user and write only (ANDed over
    PDE and PTE): it has no execute column."""

    start: int
    end: int
    user: bool
    write: bool


def parse_info_mem(text: str) -> list[MemRegion]:
    out = []
    for line in text.splitlines():
        m = _INFO_MEM.match(line.strip())
        if m:
            out.append(MemRegion(int(m.group(1), 16), int(m.group(2), 16),
                                 m.group(4) == "u", m.group(5) == "w"))
    return out


@dataclass(frozen=True)
class TlbEntry:
    """One line of ``info tlb``: a present page (4 KiB, or 4 MiB when large;
    2 MiB when large under PAE)."""

    va: int
    pa: int
    global_: bool
    large: bool
    dirty: bool
    accessed: bool
    pcd: bool
    pwt: bool
    user: bool
    write: bool
    nx: bool = False  # the entry's own bit 63 (PAE), whatever EFER.NXE says


# Under PAE QEMU prints the 64-bit entry ANDed only with a mask of the low
# bits, so bit 63 (NX) and bits 62:52 show up in the "physical address"
# column; a physical address has at most 52 bits.
_PHYS_ADDR_MASK = (1 << 52) - 1


def parse_info_tlb(text: str) -> dict[int, TlbEntry]:
    out = {}
    for line in text.splitlines():
        m = _INFO_TLB.match(line.strip())
        if m:
            g = m.groups()
            entry = TlbEntry(int(g[0], 16), int(g[1], 16) & _PHYS_ADDR_MASK, g[3] == "G",
                             g[4] == "P", g[5] == "D", g[6] == "A", g[7] == "C", g[8] == "T",
                             g[9] == "U", g[10] == "W", g[2] == "X")
            out[entry.va] = entry
    return out
