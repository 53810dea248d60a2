"""x86 32-bit paging (no PAE), as pure Python: decode entries, walk an
address space from a CR3 value, translate, and render a merged region map.

Everything reads physical memory through a :class:`PhysReader` (anything with
``read_phys(addr, size) -> bytes``); unit tests give it a dict-backed fake,
the harness gives it the machine.  A walk reads the page directory in one
read and each present page table in one read, then works on the bytes.

Layout of a 32-bit linear address::

    31          22 21          12 11           0
    | PDX (10 bit) | PTX (10 bit) | offset (12)  |
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

PAGE_SIZE = 4096
LARGE_PAGE_SIZE = 4 << 20
ENTRIES = 1024
TABLE_BYTES = ENTRIES * 4
EMPTY_TABLE = bytes(TABLE_BYTES)

PRESENT = 0x001
WRITE = 0x002
USER = 0x004
PWT = 0x008
PCD = 0x010
ACCESSED = 0x020
DIRTY = 0x040
PS = 0x080      # PDE: 4 MiB page
GLOBAL = 0x100  # PTE (or 4 MiB PDE)
# Bits 11:9 are the software's.  This firmware uses two of them in a PTE
# (vmm.h): OWNED, the mapping holds a reference on its frame (the frame
# table's refs count it); COW, a private page whose frame may be shared,
# read-only until a write fault copies it (or takes it back).
OWNED = 0x200
COW = 0x800
# Bit 8 of a NOT-present PTE (the CPU ignores it there; G only when present):
# PAGE_PROTNONE (vmm.h), a page mprotect(PROT_NONE) keeps with its frame and
# reference; every access to it faults.
PROTNONE = 0x100
# Bit 7 of a NOT-present PTE: PAGE_SWAP (vmm.h), the page is in swap; the
# frame bits name its slot (harness/decode/swap.py), the low bits keep its
# rights.  Such an entry maps nothing.
SWAP = 0x080
FRAME_MASK = 0xFFFFF000
LARGE_FRAME_MASK = 0xFFC00000
# A 4 MiB PDE must have bits 21:13 clear (with 32-bit physical addresses);
# the SDM's reserved bits for non-PAE large pages.
LARGE_RESERVED_MASK = 0x003FE000

FLAG_NAMES = ((PRESENT, "P"), (WRITE, "W"), (USER, "U"), (PWT, "T"), (PCD, "C"),
              (ACCESSED, "A"), (DIRTY, "D"), (PS, "S"), (GLOBAL, "G"))


class PhysReader(Protocol):
    def read_phys(self, addr: int, size: int) -> bytes: ...


def is_swap(raw: int) -> bool:
    """Whether a PTE (either format: bits 7 and 0 sit in the low half) is a
    swap entry: not present, PAGE_SWAP set."""
    return raw & (PRESENT | SWAP) == SWAP


def pdx(va: int) -> int:
    return va >> 22 & 0x3FF


def ptx(va: int) -> int:
    return va >> 12 & 0x3FF


def flag_string(raw: int) -> str:
    """Entry flags as letters, e.g. "PWUA" ("-" when none)."""
    return "".join(name for bit, name in FLAG_NAMES if raw & bit) or "-"


class EntryBits:
    """The low flag bits every x86 paging entry shares, legacy (32-bit) and
    PAE (64-bit) alike; ``level`` 2 is a directory entry, 1 a table entry."""

    raw: int
    level: int

    present = property(lambda self: bool(self.raw & PRESENT))
    write = property(lambda self: bool(self.raw & WRITE))
    user = property(lambda self: bool(self.raw & USER))
    pwt = property(lambda self: bool(self.raw & PWT))
    pcd = property(lambda self: bool(self.raw & PCD))
    accessed = property(lambda self: bool(self.raw & ACCESSED))
    dirty = property(lambda self: bool(self.raw & DIRTY) and self.maps_page)
    global_ = property(lambda self: bool(self.raw & GLOBAL) and self.maps_page)
    owned = property(lambda self: bool(self.raw & OWNED) and self.maps_page)
    cow = property(lambda self: bool(self.raw & COW) and self.maps_page)

    @property
    def large(self) -> bool:
        """A directory entry mapping a page itself (4 MiB legacy, 2 MiB PAE)."""
        return self.level == 2 and bool(self.raw & PS)

    @property
    def maps_page(self) -> bool:
        """True when the entry maps memory itself (a PTE, or a large PDE)."""
        return self.level == 1 or self.large


@dataclass(frozen=True)
class Entry(EntryBits):
    """A decoded page-directory or page-table entry."""

    raw: int
    level: int  # 2: page directory entry, 1: page table entry

    avail = property(lambda self: self.raw >> 9 & 0x7)

    @property
    def frame(self) -> int:
        """The physical address the entry points at (a table, a page or a 4 MiB page)."""
        return self.raw & (LARGE_FRAME_MASK if self.large else FRAME_MASK)

    @property
    def reserved_bits_set(self) -> bool:
        return self.large and bool(self.raw & LARGE_RESERVED_MASK)

    def __str__(self) -> str:
        kind = "PDE" if self.level == 2 else "PTE"
        return f"{kind} {self.raw:#010x} -> {self.frame:#010x} [{flag_string(self.raw)}]"


@dataclass(frozen=True)
class Translation:
    """One address walked through the levels; ``pa`` is None when it would fault."""

    va: int
    pde: Entry
    pte: Entry | None
    pa: int | None

    @property
    def user(self) -> bool:
        return self.pde.user and (self.pte is None or self.pte.user)

    @property
    def write(self) -> bool:
        return self.pde.write and (self.pte is None or self.pte.write)

    @property
    def execute(self) -> bool:
        """Legacy paging has no execute-disable bit: every mapped page runs."""
        return self.pa is not None

    def __str__(self) -> str:
        lines = [f"va {self.va:#010x}: PDX {pdx(self.va)} PTX {ptx(self.va)} "
                 f"offset {self.va & 0xFFF:#x}", f"  {self.pde}"]
        if self.pte is not None:
            lines.append(f"  {self.pte}")
        lines.append(f"  -> {self.pa:#010x}" if self.pa is not None else "  -> not mapped")
        return "\n".join(lines)


@dataclass(frozen=True)
class Region:
    """A run of virtual pages with the same (effective) attributes."""

    start: int
    end: int
    user: bool
    write: bool
    global_: bool = False
    # Legacy paging has no execute-disable bit: every mapped byte can be
    # executed.  PAE with EFER.NXE can take it away (harness/decode/pae.py).
    execute: bool = True

    @property
    def size(self) -> int:
        return self.end - self.start

    def perms(self) -> str:
        return ("u" if self.user else "-") + "r" + ("w" if self.write else "-")

    def rights(self) -> str:
        """perms() with the execute column, e.g. "-rwx" or "ur--"."""
        return self.perms() + ("x" if self.execute else "-")


@dataclass(frozen=True)
class Mapping:
    """One mapped page: virtual address, physical address, size, and the
    entries that map it (the PTE is None for a 4 MiB page)."""

    va: int
    pa: int
    size: int
    pde: int
    pte: int | None

    @property
    def flags(self) -> int:
        return (self.pte if self.pte is not None else self.pde) & 0xFFF

    @property
    def user(self) -> bool:
        return bool(self.pde & USER) and (self.pte is None or bool(self.pte & USER))

    @property
    def write(self) -> bool:
        return bool(self.pde & WRITE) and (self.pte is None or bool(self.pte & WRITE))

    owned = property(lambda self: bool(self.flags & OWNED))
    cow = property(lambda self: bool(self.flags & COW))


class AddressSpace:
    """The page tables reachable from one CR3, read once."""

    def __init__(self, cr3: int, directory: bytes, tables: dict[int, bytes], pse: bool) -> None:
        self.cr3 = cr3
        self.directory = directory
        self.tables = tables  # page directory index -> the page table's 4 KiB
        self.pse = pse
        self._pdes = struct.unpack(f"<{ENTRIES}I", directory)

    def pde(self, index: int) -> Entry:
        return Entry(self._pdes[index], 2)

    def _is_large(self, raw: int) -> bool:
        return self.pse and bool(raw & PS)

    def translate(self, va: int) -> Translation:
        raw = self._pdes[pdx(va)]
        pde = Entry(raw if self.pse else raw & ~PS, 2)
        if not pde.present:
            return Translation(va, pde, None, None)
        if self._is_large(raw):
            return Translation(va, pde, None, pde.frame | (va & (LARGE_PAGE_SIZE - 1)))
        table = self.tables[pdx(va)]
        pte = Entry(struct.unpack_from("<I", table, ptx(va) * 4)[0], 1)
        pa = pte.frame | (va & 0xFFF) if pte.present else None
        return Translation(va, pde, pte, pa)

    def mappings(self, start: int = 0, end: int = 1 << 32) -> Iterator[Mapping]:
        """Every present page in [start, end), in address order."""
        for i in range(pdx(start), pdx(end - 1) + 1):
            raw = self._pdes[i]
            if not raw & PRESENT:
                continue
            base = i << 22
            if self._is_large(raw):
                yield Mapping(base, raw & LARGE_FRAME_MASK, LARGE_PAGE_SIZE, raw, None)
                continue
            table = self.tables[i]
            if table == EMPTY_TABLE:  # compared in C: most kernel tables are empty
                continue
            for j, pte in enumerate(struct.unpack(f"<{ENTRIES}I", table)):
                va = base | j << 12
                if pte & PRESENT and start <= va < end:
                    yield Mapping(va, pte & FRAME_MASK, PAGE_SIZE, raw, pte)

    def _table_entries(self, start: int, end: int) -> Iterator[tuple[int, int, int]]:
        """(va, pde, pte) for every entry of the present page tables in [start, end)."""
        for i in range(pdx(start), pdx(end - 1) + 1):
            raw = self._pdes[i]
            if not raw & PRESENT or self._is_large(raw) or self.tables[i] == EMPTY_TABLE:
                continue
            for j, pte in enumerate(struct.unpack(f"<{ENTRIES}I", self.tables[i])):
                va = i << 22 | j << 12
                if start <= va < end:
                    yield va, raw, pte

    def protnone_pages(self, start: int = 0, end: int = 1 << 32) -> Iterator[Mapping]:
        """Every PROT_NONE entry in [start, end) (not present, PROTNONE set:
        the page keeps its frame, every access faults), in address order."""
        for va, pde, pte in self._table_entries(start, end):
            if pte & (PRESENT | PROTNONE) == PROTNONE:
                yield Mapping(va, pte & FRAME_MASK, PAGE_SIZE, pde, pte)

    def swap_pages(self, start: int = 0, end: int = 1 << 32) -> Iterator[tuple[int, int]]:
        """(va, raw entry) for every swap entry in [start, end) (not present,
        SWAP set: the page is in the swap slot its frame bits name), in
        address order."""
        for va, _, pte in self._table_entries(start, end):
            if is_swap(pte):
                yield va, pte

    def regions(self, *, split_global: bool = False) -> list[Region]:
        """Contiguous virtual ranges with the same effective user/write rights
        (and the global bit when ``split_global``): what QEMU's ``info mem``
        prints.  Works on whole tables at once, not entry by entry."""
        runs: list[Region] = []
        for i, raw in enumerate(self._pdes):
            if not raw & PRESENT:
                continue
            base = i << 22
            if self._is_large(raw):
                _append(runs, Region(base, base + LARGE_PAGE_SIZE, bool(raw & USER),
                                     bool(raw & WRITE), split_global and bool(raw & GLOBAL)))
                continue
            if self.tables[i] == EMPTY_TABLE:
                continue
            mask = PRESENT | (raw & (USER | WRITE))  # the PDE limits every PTE below it
            keep = mask | (GLOBAL if split_global else 0)
            pos = 0
            for key, group in itertools.groupby(
                    e & keep for e in struct.unpack(f"<{ENTRIES}I", self.tables[i])):
                count = sum(1 for _ in group)
                if key & PRESENT:
                    start = base | pos << 12
                    _append(runs, Region(start, start + count * PAGE_SIZE, bool(key & USER),
                                         bool(key & WRITE), bool(key & GLOBAL)))
                pos += count
        return runs

    def page_tables(self) -> int:
        return len(self.tables)


def _append(runs: list[Region], region: Region) -> None:
    last = runs[-1] if runs else None
    if (last is not None and last.end == region.start and last.user == region.user
            and last.write == region.write and last.global_ == region.global_
            and last.execute == region.execute):
        runs[-1] = Region(last.start, region.end, last.user, last.write, last.global_,
                          last.execute)
    else:
        runs.append(region)


def walk(reader: PhysReader, cr3: int, *, pse: bool = False) -> AddressSpace:
    """Read the address space at ``cr3``: one read for the directory, one per
    present page table.  ``pse`` is CR4.PSE: whether PS in a PDE means 4 MiB."""
    directory = reader.read_phys(cr3 & FRAME_MASK, TABLE_BYTES)
    tables = {}
    for i, raw in enumerate(struct.unpack(f"<{ENTRIES}I", directory)):
        if raw & PRESENT and not (pse and raw & PS):
            tables[i] = reader.read_phys(raw & FRAME_MASK, TABLE_BYTES)
    return AddressSpace(cr3, directory, tables, pse)


def size_text(n: int) -> str:
    """Bytes as a person reads them: whole MiB when exact, else KiB."""
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n >> 10} KiB"


def format_regions(regions: list[Region], *, execute: bool = False) -> str:
    """A table a person can read: start, end, size, rights (with the execute
    column when ``execute``).  The end column widens by one digit when a
    region ends at 4 GiB (0x100000000)."""
    width = max([10, *(len(f"{r.end:#x}") for r in regions)])
    lines = [f"{'start':>10}  {'end':>{width}}  {'size':>10}  rights"]
    for r in regions:
        size = size_text(r.size)
        lines.append(f"{r.start:#010x}  {f'{r.end:#010x}':>{width}}  {size:>10}  "
                     f"{r.rights() if execute else r.perms()}"
                     + ("  global" if r.global_ else ""))
    return "\n".join(lines)
