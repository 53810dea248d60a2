"""x86 PAE paging as pure Python: 32-bit linear addresses translated through
64-bit entries to physical addresses of up to MAXPHYADDR (at most 52) bits.

Three levels: a 4-entry page-directory-pointer table (PDPT) at the 32-byte
aligned address in CR3, then 512-entry page directories and page tables.  A
PDE with PS maps a 2 MiB page (CR4.PSE does not matter under PAE).  Bit 63
of a PDE or PTE is execute-disable (XD/NX) when EFER.NXE is set, and a
reserved bit when it is not; in a PDPTE it is always reserved.  An entry with
a reserved bit set faults (#PF with RSVD, or #GP at the MOV to CR3 for a
PDPTE), so nothing below it is mapped: the walker reports it and maps
nothing through it.  QEMU's monitor (``info mem``/``info tlb``) does not check
reserved bits, so they are where the two are allowed to differ.

Layout of a linear address under PAE::

    31 30 29         21 20         12 11           0
    |PDPI| PDX (9 bit)  | PTX (9 bit)  | offset (12)  |

Reads go through the same ``read_phys(addr, size)`` reader as paging.py: one
read for the PDPT, one per present directory and one per present table.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from harness.decode.paging import (
    COW,
    GLOBAL,
    OWNED,
    PAGE_SIZE,
    PRESENT,
    PROTNONE,
    USER,
    WRITE,
    EntryBits,
    PhysReader,
    Region,
    _append,
    flag_string,
    is_swap,
)

PDPT_ENTRIES = 4
PDPT_BYTES = PDPT_ENTRIES * 8
ENTRIES = 512
TABLE_BYTES = ENTRIES * 8
EMPTY_TABLE = bytes(TABLE_BYTES)
HUGE_PAGE_SIZE = 2 << 20
NX = 1 << 63
# QEMU's i386 target under TCG has 36 physical address bits (64 GiB).
DEFAULT_MAXPHYADDR = 36
CR3_PDPT_MASK = 0xFFFFFFE0   # CR3 bits 31:5 hold the PDPT's address
# PDPTE bits 2:1 (where R/W and U/S would be) and 8:6 are reserved.  The SDM
# reserves bit 5 too, but QEMU (7.2, TCG) sets it, as an accessed bit, in
# every PDPTE it walks and never faults on it: counting it reserved would make
# the walker see nothing where the CPU it judges translates.
PDPTE_RESERVED_LOW = 0x1C6
# A 2 MiB PDE's bits 20:13 are reserved (bit 12 is PAT).
HUGE_RESERVED_LOW = 0x1FE000
LEVEL_NAMES = {3: "PDPTE", 2: "PDE", 1: "PTE"}


def pdpi(va: int) -> int:
    return va >> 30 & 0x3


def pdx(va: int) -> int:
    return va >> 21 & 0x1FF


def ptx(va: int) -> int:
    return va >> 12 & 0x1FF


def phys_mask(maxphyaddr: int) -> int:
    if not 32 <= maxphyaddr <= 52:
        raise ValueError(f"MAXPHYADDR {maxphyaddr} is outside 32..52")
    return (1 << maxphyaddr) - 1


@dataclass(frozen=True)
class PaeEntry(EntryBits):
    """A decoded PDPTE (level 3), PDE (level 2) or PTE (level 1).  ``nxe`` is
    EFER.NXE and ``maxphyaddr`` the CPU's physical address width: both decide
    which bits are reserved."""

    raw: int
    level: int
    nxe: bool = False
    maxphyaddr: int = DEFAULT_MAXPHYADDR

    @property
    def nx(self) -> bool:
        """Execute-disable: only a PDE's or PTE's bit 63, and only with EFER.NXE."""
        return self.nxe and self.level < 3 and bool(self.raw & NX)

    @property
    def frame(self) -> int:
        """The physical address the entry points at (a table, a 4 KiB or a 2 MiB page)."""
        low = HUGE_PAGE_SIZE - 1 if self.large else PAGE_SIZE - 1
        return self.raw & phys_mask(self.maxphyaddr) & ~low

    @property
    def reserved_mask(self) -> int:
        """The bits that must be clear in this entry."""
        mask = (NX - 1) & ~phys_mask(self.maxphyaddr)  # bits 62:MAXPHYADDR
        if self.level == 3 or not self.nxe:
            mask |= NX
        if self.level == 3:
            mask |= PDPTE_RESERVED_LOW
        elif self.large:
            mask |= HUGE_RESERVED_LOW
        return mask

    @property
    def reserved_bits_set(self) -> bool:
        return self.present and bool(self.raw & self.reserved_mask)

    @property
    def usable(self) -> bool:
        """Present and without reserved bits: the CPU goes on through it."""
        return self.present and not self.raw & self.reserved_mask

    def __str__(self) -> str:
        flags = flag_string(self.raw & 0xFFF) + ("X" if self.raw & NX else "")
        note = " reserved bits set" if self.reserved_bits_set else ""
        return (f"{LEVEL_NAMES[self.level]} {self.raw:#018x} -> {self.frame:#x} "
                f"[{flags}]{note}")


@dataclass(frozen=True)
class PaeTranslation:
    """One address walked through the levels; ``pa`` is None when the access
    would fault (an entry not present, or one with reserved bits set)."""

    va: int
    pdpte: PaeEntry
    pde: PaeEntry | None
    pte: PaeEntry | None
    pa: int | None

    def _leaves(self) -> list[PaeEntry]:
        return [e for e in (self.pde, self.pte) if e is not None]

    @property
    def reserved(self) -> bool:
        """The walk stopped on an entry with reserved bits set."""
        return any(e.reserved_bits_set for e in (self.pdpte, *self._leaves()))

    @property
    def user(self) -> bool:
        return self.pa is not None and all(e.user for e in self._leaves())

    @property
    def write(self) -> bool:
        return self.pa is not None and all(e.write for e in self._leaves())

    @property
    def execute(self) -> bool:
        """No XD on the path (the PDPTE has no XD bit under PAE)."""
        return self.pa is not None and not any(e.nx for e in self._leaves())

    def rights(self) -> str:
        if self.pa is None:
            return "----"
        return (("u" if self.user else "-") + "r" + ("w" if self.write else "-")
                + ("x" if self.execute else "-"))

    def __str__(self) -> str:
        lines = [f"va {self.va:#010x}: PDPI {pdpi(self.va)} PDX {pdx(self.va)} "
                 f"PTX {ptx(self.va)} offset {self.va & 0xFFF:#x}", f"  {self.pdpte}"]
        lines += [f"  {e}" for e in self._leaves()]
        lines.append(f"  -> {self.pa:#x} {self.rights()}" if self.pa is not None
                     else "  -> not mapped")
        return "\n".join(lines)


@dataclass(frozen=True)
class PaeMapping:
    """One mapped page (4 KiB, or 2 MiB when ``pte`` is None) with the raw
    entries that map it and its effective rights."""

    va: int
    pa: int
    size: int
    pdpte: int
    pde: int
    pte: int | None
    nxe: bool

    @property
    def leaf(self) -> int:
        """The entry that maps the page itself (what ``info tlb`` prints)."""
        return self.pte if self.pte is not None else self.pde

    @property
    def flags(self) -> int:
        return self.leaf & 0xFFF

    @property
    def user(self) -> bool:
        return bool(self.pde & USER) and (self.pte is None or bool(self.pte & USER))

    @property
    def write(self) -> bool:
        return bool(self.pde & WRITE) and (self.pte is None or bool(self.pte & WRITE))

    @property
    def execute(self) -> bool:
        return not (self.nxe and (self.pde | (self.pte or 0)) & NX)

    owned = property(lambda self: bool(self.flags & OWNED))
    cow = property(lambda self: bool(self.flags & COW))


class PaeAddressSpace:
    """The PAE page tables reachable from one CR3, read once."""

    def __init__(self, cr3: int, pdpt: bytes, directories: dict[int, bytes],
                 tables: dict[int, bytes], *, nxe: bool, maxphyaddr: int) -> None:
        self.cr3 = cr3
        self.nxe = nxe
        self.maxphyaddr = maxphyaddr
        self._pdptes = struct.unpack(f"<{PDPT_ENTRIES}Q", pdpt)
        # PDPT index -> that directory's 512 raw PDEs (usable PDPTEs only)
        self._pdes = {i: struct.unpack(f"<{ENTRIES}Q", d) for i, d in directories.items()}
        self.tables = tables  # va >> 21 (the 2 MiB slot) -> the page table's 4 KiB

    def entry(self, raw: int, level: int) -> PaeEntry:
        return PaeEntry(raw, level, self.nxe, self.maxphyaddr)

    def pdpte(self, index: int) -> PaeEntry:
        return self.entry(self._pdptes[index], 3)

    def pde(self, index: int, slot: int) -> PaeEntry:
        """PDE ``slot`` of the directory below PDPTE ``index`` (a usable one)."""
        return self.entry(self._pdes[index][slot], 2)

    def pte(self, slot: int, index: int) -> PaeEntry:
        """PTE ``index`` of the page table of 2 MiB slot ``slot`` (va >> 21),
        whose PDE is usable and not a 2 MiB page."""
        return self.entry(struct.unpack_from("<Q", self.tables[slot], index * 8)[0], 1)

    def translate(self, va: int) -> PaeTranslation:
        pdpte = self.pdpte(pdpi(va))
        if not pdpte.usable:
            return PaeTranslation(va, pdpte, None, None, None)
        pde = self.pde(pdpi(va), pdx(va))
        if not pde.usable:
            return PaeTranslation(va, pdpte, pde, None, None)
        if pde.large:
            return PaeTranslation(va, pdpte, pde, None, pde.frame | va & (HUGE_PAGE_SIZE - 1))
        # The 2 MiB slot, masked: a negative va (a signed call result) too.
        pte = self.pte(va >> 21 & 0x7FF, ptx(va))
        pa = pte.frame | va & 0xFFF if pte.usable else None
        return PaeTranslation(va, pdpte, pde, pte, pa)

    def _slots(self) -> Iterator[tuple[int, int, PaeEntry]]:
        """(2 MiB slot, raw PDPTE, usable PDE) for every usable PDE, in order."""
        for i, pdes in sorted(self._pdes.items()):
            for j, raw in enumerate(pdes):
                pde = self.entry(raw, 2)
                if pde.usable:
                    yield i << 9 | j, self._pdptes[i], pde

    def _ptes(self, slot: int) -> Iterator[tuple[int, PaeEntry]]:
        table = self.tables[slot]
        if table == EMPTY_TABLE:  # most tables are mostly empty: skip decoding them
            return
        for k, raw in enumerate(struct.unpack(f"<{ENTRIES}Q", table)):
            if raw & PRESENT:
                yield k, self.entry(raw, 1)

    def mappings(self, start: int = 0, end: int = 1 << 32) -> Iterator[PaeMapping]:
        """Every page the CPU would map in [start, end), in address order
        (entries with reserved bits set map nothing)."""
        for slot, pdpte, pde in self._slots():
            base = slot << 21
            if base + HUGE_PAGE_SIZE <= start or base >= end:
                continue
            if pde.large:
                yield PaeMapping(base, pde.frame, HUGE_PAGE_SIZE, pdpte, pde.raw, None, self.nxe)
                continue
            for k, pte in self._ptes(slot):
                va = base | k << 12
                if pte.usable and start <= va < end:
                    yield PaeMapping(va, pte.frame, PAGE_SIZE, pdpte, pde.raw, pte.raw, self.nxe)

    def _table_entries(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """(va, pdpte, pde, pte) for every entry of the present page tables in [start, end)."""
        for slot, pdpte, pde in self._slots():
            base = slot << 21
            if (pde.large or base + HUGE_PAGE_SIZE <= start or base >= end
                    or self.tables[slot] == EMPTY_TABLE):
                continue
            for k, raw in enumerate(struct.unpack(f"<{ENTRIES}Q", self.tables[slot])):
                va = base | k << 12
                if start <= va < end:
                    yield va, pdpte, pde.raw, raw

    def protnone_pages(self, start: int = 0, end: int = 1 << 32) -> Iterator[PaeMapping]:
        """Every PROT_NONE entry in [start, end) (not present, PROTNONE set:
        the page keeps its frame, every access faults), in address order."""
        for va, pdpte, pde, raw in self._table_entries(start, end):
            if raw & (PRESENT | PROTNONE) == PROTNONE:
                yield PaeMapping(va, self.entry(raw, 1).frame, PAGE_SIZE, pdpte, pde, raw, self.nxe)

    def swap_pages(self, start: int = 0, end: int = 1 << 32) -> Iterator[tuple[int, int]]:
        """(va, raw entry) for every swap entry in [start, end) (not present,
        SWAP set: the page is in the swap slot its frame bits name)."""
        for va, _, _, raw in self._table_entries(start, end):
            if is_swap(raw):
                yield va, raw

    def regions(self, *, split_global: bool = False) -> list[Region]:
        """Contiguous virtual ranges with the same effective user, write and
        execute rights (and global bit when ``split_global``).  Works on whole
        page tables at once, grouping entries by the bits that decide them,
        not page by page: a PAE space has as many entries as a legacy one."""
        runs: list[Region] = []
        reserved = self.entry(0, 1).reserved_mask  # the same for every PTE
        for slot, _pdpte, pde in self._slots():
            base = slot << 21
            if pde.large:
                _append(runs, Region(base, base + HUGE_PAGE_SIZE, pde.user, pde.write,
                                     split_global and bool(pde.raw & GLOBAL), not pde.nx))
                continue
            if self.tables[slot] == EMPTY_TABLE:
                continue
            limit = PRESENT | (pde.raw & (USER | WRITE))  # the PDE limits every PTE below it
            keep = limit | reserved | (GLOBAL if split_global else 0) | (NX if self.nxe else 0)
            pos = 0
            for key, group in itertools.groupby(
                    e & keep for e in struct.unpack(f"<{ENTRIES}Q", self.tables[slot])):
                count = sum(1 for _ in group)
                if key & PRESENT and not key & reserved:
                    start = base | pos << 12
                    _append(runs, Region(start, start + count * PAGE_SIZE, bool(key & USER),
                                         bool(key & WRITE), bool(key & GLOBAL),
                                         not (pde.nx or key & NX)))
                pos += count
        return runs

    def page_tables(self) -> int:
        return len(self.tables)


def user_write_runs(regions: list[Region]) -> list[tuple[int, int, bool, bool]]:
    """(start, end, user, write) runs merged whatever their execute right:
    what QEMU's ``info mem`` prints (it has no execute column)."""
    runs: list[tuple[int, int, bool, bool]] = []
    for r in regions:
        if runs and runs[-1][1] == r.start and runs[-1][2:] == (r.user, r.write):
            runs[-1] = (runs[-1][0], r.end, r.user, r.write)
        else:
            runs.append((r.start, r.end, r.user, r.write))
    return runs


def walk_pae(reader: PhysReader, cr3: int, *, nxe: bool = False,
             maxphyaddr: int = DEFAULT_MAXPHYADDR) -> PaeAddressSpace:
    """Read the PAE address space at ``cr3``: the PDPT, then every directory
    and table below a usable (present, no reserved bits) entry.  ``nxe`` is
    EFER.NXE; ``maxphyaddr`` the CPU's physical address width."""
    pdpt = reader.read_phys(cr3 & CR3_PDPT_MASK, PDPT_BYTES)
    directories: dict[int, bytes] = {}
    tables: dict[int, bytes] = {}
    for i, raw in enumerate(struct.unpack(f"<{PDPT_ENTRIES}Q", pdpt)):
        pdpte = PaeEntry(raw, 3, nxe, maxphyaddr)
        if not pdpte.usable:
            continue
        directories[i] = reader.read_phys(pdpte.frame, TABLE_BYTES)
        for j, pde_raw in enumerate(struct.unpack(f"<{ENTRIES}Q", directories[i])):
            pde = PaeEntry(pde_raw, 2, nxe, maxphyaddr)
            if pde.usable and not pde.large:
                tables[i << 9 | j] = reader.read_phys(pde.frame, TABLE_BYTES)
    return PaeAddressSpace(cr3, pdpt, directories, tables, nxe=nxe, maxphyaddr=maxphyaddr)
