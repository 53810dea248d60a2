"""Entry-level invariants of every address space on a machine, read from
guest RAM: what must hold between any two kernel operations, checked entry by
entry rather than through effective rights (``info mem`` ANDs a PDE with its
PTE, so a kernel PTE with U behind a supervisor PDE looks fine there).

:func:`check` is pure: it takes a :class:`MemoryState` (the process table,
the shared-memory segments, the PMM's bitmaps, read by :func:`read_state`)
and anything with ``read_phys`` for the page tables, and returns the
violations as sentences naming pid, address, entry and what is wrong:

- no kernel-half PDE or present PTE has U, and every process directory's
  kernel half is the kernel directory's (the shared kernel tables);
- every present user PTE of a process has U, points at a frame the PMM has
  marked used and not reserved, and not at one the kernel owns (a page
  directory, a page table, the kernel heap or a kernel stack);
- no PTE of a process's read-only ELF segments has W;
- every user PTE is PAGE_OWNED (it holds a reference on its frame); one
  inside a shared-memory attachment maps exactly that segment's frame; every
  other lies in the process's image, heap, stack or mmap regions; a frame in
  several processes' PTEs is shared memory in all of them (one segment, or
  MAP_SHARED mmap regions) or read-only in all of them (copy-on-write or
  text shared by fork);
- each segment's reference count is its attachments plus its creator's
  reference, its creator is a live process, its frames are used;
- a PROT_NONE entry (not present, PAGE_PROTNONE: a page mprotect(PROT_NONE)
  kept) lies inside a PROT_NONE mmap region, has U and PAGE_OWNED, and names
  a frame in use; the frame table counts its reference like a present one's;
- a process's ``pages`` counter is the number of its present user PTEs plus
  its PROT_NONE entries (they stay resident);
- the frame table (mm/frame.h) agrees with all of it: every frame's refs is
  the number of PAGE_OWNED PTEs (present or PROT_NONE) naming it over every
  live address space (the kernel half once) plus the kernel's references (one per live shm segment
  holding it); a frame with references is used in the PMM's bitmap;
  FRAME_COW only on frames some PTE maps copy-on-write; no copy-on-write PTE
  is writable (harness/decode/frames.py's audit);
- the page cache (fs/pagecache.h) holds one reference on each of its frames
  (a kernel reference in the audit); each cached frame is used, marked
  FRAME_PAGECACHE, held by one entry only and mapped read-only wherever a
  process maps it; every FRAME_PAGECACHE frame is in the cache;
- the swap cache holds one reference on each frame it keeps (and only those
  frames have FRAME_SWAPCACHE);
- the virtio balloon holds one reference on each frame flagged FRAME_BALLOON
  (a kernel reference in the audit: such a frame mapped anywhere has one
  reference too many);
- swap (harness/decode/swap.py's audit): a swap entry (not present,
  PAGE_SWAP) lies in the process's image, heap, stack or a private mmap
  region, has U and no PAGE_OWNED; a process's ``swapped_pages`` is the number
  of its swap entries; every slot in use is referenced by exactly the swap
  entries and the swap-cache entry naming it, and no entry names a free or
  retired slot;
- the PMM's buddy maps mirror its bitmap (pmm_audit.py): each order's map
  holds exactly the bitmap's maximal free blocks of that order (inside one
  zone) but the hint word's exempt ones, every summary level is exact.

The paging mode comes from the machine (CR4.PAE, EFER.NXE).  Under PAE the
entries are 64-bit, 512 to a table; every address space's PDPT must be free
of reserved bits and share the kernel's directory (PDPT entry 3, the kernel
half) itself, not a copy; and with EFER.NXE on, no user page is both
writable and executable (W on both levels, NX on neither), and every kernel
page outside the kernel's text (``__text_start``..``__text_end``) is NX.

Every table is read once, whole; the kernel's tables are checked as big
integers (all entries of a table at once) rather than entry by entry.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from harness.decode import pae, paging
from harness.decode import swap as swapdec
from harness.decode.bitmap import Bitmap
from harness.decode.frames import (
    FRAME_BALLOON,
    FRAME_PAGECACHE,
    FRAME_SWAPCACHE,
    FrameInfo,
    FrameTable,
    PteRef,
    audit,
    expected_refs,
    explain,
)
from harness.decode.modes import PagingMode
from harness.machine.machine import Machine
from harness.targets.mmverify.kernel import Kernel
from harness.targets.mmverify.pmm_audit import buddy_audit

OWNED = paging.OWNED  # PAGE_OWNED (vmm.h): the mapping holds a frame reference
COW = paging.COW      # PAGE_COW (vmm.h): private, read-only until a write copies it
PROTNONE = paging.PROTNONE  # PAGE_PROTNONE (vmm.h), in a not-present entry: a kept page
ZOMBIE = 4     # enum proc_state: ended, address space not yet freed
MAP_SHARED = 0x01  # mman.h: an mmap region whose frames fork shares writable



@dataclass(frozen=True)
class Geometry:
    """A page table's layout: 1024 32-bit entries of 4 MiB-spanning
    directories (legacy), or 512 64-bit entries of 2 MiB (PAE)."""

    entry_bytes: int
    pde_shift: int   # log2 of what one PDE maps
    frame_mask: int

    @property
    def entries(self) -> int:
        return paging.TABLE_BYTES // self.entry_bytes

    def unpack(self, table: bytes) -> tuple[int, ...]:
        return struct.unpack(f"<{self.entries}{'I' if self.entry_bytes == 4 else 'Q'}", table)

    # Masks over a whole table read as one little-endian integer: bit b of
    # every entry.  Multiplying a "bit 0 of each entry" integer by a value
    # below 2**(8 * entry_bytes) puts that value in each entry (no carries).
    @cached_property
    def every(self) -> int:
        return sum(1 << 8 * self.entry_bytes * j for j in range(self.entries))

    @cached_property
    def offsets(self) -> int:
        """Entry j of a direct-map table maps the frame (table base + j * 4 KiB)."""
        return sum(j << 12 << 8 * self.entry_bytes * j for j in range(self.entries))


LEGACY = Geometry(4, 22, paging.FRAME_MASK)
PAE = Geometry(8, 21, pae.phys_mask(52) & ~0xFFF)


@dataclass(frozen=True)
class Attachment:
    """A process's shared-memory attachment (struct shm_attachment)."""

    id: int
    va: int
    pages: int


@dataclass(frozen=True)
class Segment:
    """A live shared-memory segment (shm.c's struct segment)."""

    id: int
    refs: int
    creator: int  # pid holding the creator's reference, 0 once dropped
    frames: tuple[int, ...]


@dataclass(frozen=True)
class Space:
    """A process's address space and what the kernel says is in it."""

    pid: int
    name: str
    cr3: int
    pages: int                         # the kernel's count of its user frames
    readonly: tuple[tuple[int, int], ...]  # [start, end) pages of read-only ELF segments
    shm: tuple[Attachment, ...]
    # [start, end) ranges it may have pages in besides attachments: its image,
    # heap (up to the page holding the break) and stack
    regions: tuple[tuple[int, int], ...]
    zombie: bool = False
    # its mmap regions (struct vm_region): (start, end, prot, flags); pages may
    # be there too, with no more rights than prot gives (PROT_WRITE is 2;
    # PROT_NONE has only PROT_NONE entries), and MAP_SHARED ones are shared
    # writable by fork
    mmap: tuple[tuple[int, int, int, int], ...] = ()
    swapped: int = 0                   # the kernel's count of its swap entries


@dataclass(frozen=True)
class MemoryState:
    kernel_base: int
    kernel_cr3: int
    spaces: tuple[Space, ...]
    segments: tuple[Segment, ...]
    used: Bitmap
    reserved: Bitmap
    mode: PagingMode = field(default_factory=PagingMode)
    kernel_text: tuple[int, int] = (0, 0)  # [start, end) of the kernel's code
    # [start, end) of guest RAM as QEMU has it; empty: RAM is what the bitmaps cover
    ram: tuple[tuple[int, int], ...] = ()
    # the frame table (refs and flags per frame); None: not audited
    frames: FrameTable | None = None
    # the page cache's entries: (file's ino, page index, frame's physical address)
    pagecache: tuple[tuple[int, int, int], ...] = ()
    # the slot map and the swap cache; None: swap is not audited
    swap: swapdec.SwapState | None = None


def readonly_pages(head: bytes) -> list[tuple[int, int]]:
    """Page ranges of an ELF image's loadable segments without PF_W, less the
    pages a writable segment shares (the kernel makes those writable).
    ``head`` holds the ELF header and program headers."""
    phoff, = struct.unpack_from("<I", head, 28)
    phentsize, phnum = struct.unpack_from("<HH", head, 42)
    ro: set[int] = set()
    rw: set[int] = set()
    for i in range(phnum):
        ptype, _, vaddr, _, _, memsz, flags = struct.unpack_from("<7I", head,
                                                                 phoff + i * phentsize)
        if ptype != 1 or memsz == 0:  # PT_LOAD
            continue
        pages = range(vaddr >> 12, (vaddr + memsz + paging.PAGE_SIZE - 1) >> 12)
        (rw if flags & 2 else ro).update(pages)  # PF_W
    return _runs(sorted(ro - rw))


def _runs(pages: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for p in pages:
        if out and out[-1][1] == p << 12:
            out[-1] = (out[-1][0], (p + 1) << 12)
        else:
            out.append((p << 12, (p + 1) << 12))
    return out


def _entries_with(g: Geometry, table: bytes, bits: int) -> list[int]:
    """Indexes of the present entries of ``table`` with all of ``bits`` set."""
    return [j for j, e in enumerate(g.unpack(table))
            if e & paging.PRESENT and e & bits == bits]


class _Checker:
    def __init__(self, reader: paging.PhysReader, state: MemoryState,
                 want: int | None = None) -> None:
        self.r = reader
        self.s = state
        self.pae = state.mode.pae
        self.nxe = state.mode.pae and state.mode.nxe
        self.g = PAE if self.pae else LEGACY
        self.out: list[str] = []
        self.kernel_pdes: list[tuple[int, int]] = []  # the kernel space's (va, PDE)s
        self.kernel_frames: dict[int, str] = {}   # frame -> what the kernel uses it for
        # frame -> every (process, va, kind, writable) user mapping of it; kind:
        # "shm" (in an attachment of the segment that has this frame there),
        # "mmap-shared" (in a MAP_SHARED mmap region), "file" (a page-cache
        # frame, in a shared or private file mapping) or "private"
        self.mapped: dict[int, list[tuple[str, int, str, bool]]] = defaultdict(list)
        # frame number -> every present PTE naming it with PAGE_OWNED or PAGE_COW
        # (what the frame table must account for)
        self.held: dict[int, list[PteRef]] = defaultdict(list)
        # frame number -> every PTE note() saw naming it, whatever its bits
        # (each user PTE; kernel tables that hold frames): mapped_frames
        self.named: dict[int, list[str]] = defaultdict(list)
        # frame_owners: every present PTE naming frame ``want``, whatever its bits
        self.want = want
        self.wanted: list[PteRef] = []
        self.swap_entries: list[swapdec.SwapEntry] = []

    def fail(self, text: str) -> None:
        self.out.append(text)

    def is_ram(self, frame: int) -> bool:
        """Whether ``frame`` is RAM (QEMU's ranges when known), not a device's:
        the PMM's bitmaps also cover the holes between RAM ranges."""
        if self.s.ram:
            return any(start <= frame < end for start, end in self.s.ram)
        return frame >> 12 < self.s.used.count

    def frame_in_use(self, frame: int, what: str) -> None:
        """``frame`` must be one the PMM handed out: used, not reserved."""
        n = frame >> 12
        if n >= self.s.used.count:
            self.fail(f"{what}: frame {frame:#x} is beyond the PMM's {self.s.used.count} frames")
        elif not self.s.used[n]:
            self.fail(f"{what}: frame {frame:#x} is free in the PMM's bitmap")
        elif self.s.reserved[n]:
            self.fail(f"{what}: frame {frame:#x} is reserved (firmware, kernel image, bitmaps)")

    def entry(self, raw: int) -> str:
        return f"{raw:#018x}" if self.pae else f"{raw:#010x}"

    def note(self, who: str, va: int, pte: int) -> None:
        """Record a present PTE the frame table must account for (PAGE_OWNED
        or PAGE_COW), and one naming the frame frame_owners asks about."""
        frame = pte & self.g.frame_mask
        self.named[frame >> 12].append(f"{who} va {va:#010x}")
        if pte & (OWNED | COW):
            self.held[frame >> 12].append(PteRef(who, va, pte, self.pae))
        if frame == self.want:
            self.wanted.append(PteRef(who, va, pte, self.pae))

    def note_table(self, who: str, base: int, table: bytes) -> None:
        for j, pte in enumerate(self.g.unpack(table)):
            if pte & paging.PRESENT:
                self.note(who, base | j << 12, pte)

    # -- one address space's directories -----------------------------------------------

    def directories(self, cr3: int, who: str) -> tuple[bytes, list[tuple[int, int]]]:
        """(the kernel half as every space must share it, every (va, PDE) of
        the space).  Legacy: the directory's PDEs from the kernel base on.
        PAE: the PDPTEs from the kernel base on (the kernel's directory
        itself is shared, not copied); a PDPTE with reserved bits set is
        reported and nothing below it read."""
        if not self.pae:
            directory = self.r.read_phys(cr3 & paging.FRAME_MASK, paging.TABLE_BYTES)
            pdes = [(i << 22, e) for i, e in enumerate(self.g.unpack(directory))]
            return directory[paging.pdx(self.s.kernel_base) * 4:], pdes
        pdpt = self.r.read_phys(cr3 & pae.CR3_PDPT_MASK, pae.PDPT_BYTES)
        out = []
        for i, raw in enumerate(struct.unpack(f"<{pae.PDPT_ENTRIES}Q", pdpt)):
            pdpte = pae.PaeEntry(raw, 3, self.nxe, self.s.mode.maxphyaddr)
            if not pdpte.present:
                continue
            if pdpte.reserved_bits_set:
                self.fail(f"{who}: PDPTE {i} {raw:#018x} has reserved bits set (the CPU "
                          "refuses this PDPT)")
                continue
            self.kernel_frames.setdefault(pdpte.frame, f"{who}'s page directory {i}")
            directory = self.r.read_phys(pdpte.frame, paging.TABLE_BYTES)
            out += [(i << 30 | j << 21, e) for j, e in enumerate(self.g.unpack(directory))]
        return pdpt[pae.pdpi(self.s.kernel_base) * 8:], out

    # -- the kernel half, shared by every directory ---------------------------------

    def kernel_half(self) -> bytes:
        base = self.s.kernel_base
        self.kernel_frames[self.s.kernel_cr3 & ~0xFFF] = "the kernel's page directory"
        shared, pdes = self.directories(self.s.kernel_cr3, "pid 0")
        self.kernel_pdes = pdes
        if self.pae:
            for (raw,) in struct.iter_unpack("<Q", shared):
                if raw & paging.PRESENT:
                    self.kernel_frames[raw & self.g.frame_mask] = "the kernel's page directory"
        g = self.g
        present_all, user_all = g.every * paging.PRESENT, g.every * paging.USER
        frames_all = g.every * g.frame_mask
        soft_all = g.every * (OWNED | COW)
        for va, pde in pdes:
            if va < base or not pde & paging.PRESENT:
                continue
            i = va >> g.pde_shift
            if pde & paging.USER:
                self.fail(f"kernel PDE {i} (va {va:#010x}) {self.entry(pde)} has U")
            if pde & paging.PS:
                self.fail(f"kernel PDE {i} (va {va:#010x}) {self.entry(pde)} is a large page; "
                          "the kernel maps 4 KiB pages only")
                continue
            table_pa = pde & g.frame_mask
            self.kernel_frames[table_pa] = f"the kernel's page table {i}"
            self.frame_in_use(table_pa, f"kernel PDE {i}")
            table = self.r.read_phys(table_pa, paging.TABLE_BYTES)
            if table == paging.EMPTY_TABLE:
                continue
            t = int.from_bytes(table, "little")
            present = t & present_all
            if t & soft_all or self.want is not None:
                self.note_table("the kernel", va, table)
            if t & user_all & present << 2:
                for j in _entries_with(g, table, paging.USER):
                    pte = g.unpack(table)[j]
                    self.fail(f"kernel PTE at va {va | j << 12:#010x} {self.entry(pte)} has U")
            if self.nxe and not pde & pae.NX:
                self.kernel_nx(va, table, present & ~(t >> 63))
            # Frames the kernel maps anywhere but at their direct-map address are
            # its own (heap, kernel stacks): no user PTE may point at them.
            direct = ((va - base) & 0xFFFFFFFF) * g.every + g.offsets
            if ((t & frames_all) ^ direct) & present * g.frame_mask:
                for j, pte in enumerate(g.unpack(table)):
                    frame = pte & g.frame_mask
                    if pte & paging.PRESENT and frame != (va | j << 12) - base:
                        where = f"the kernel's page at {va | j << 12:#010x}"
                        self.kernel_frames.setdefault(frame, where)
                        if self.is_ram(frame):  # else a device's (LAPIC)
                            self.frame_in_use(frame, where)
        return shared

    def kernel_nx(self, va: int, table: bytes, executable: int) -> None:
        """With EFER.NXE, every kernel page but the kernel's text is NX.
        ``executable``: bit 0 of each entry set when it is present without NX."""
        if not executable & self.g.every:
            return
        start, end = self.s.kernel_text
        for j, pte in enumerate(self.g.unpack(table)):
            page = va | j << 12
            if pte & paging.PRESENT and not pte & pae.NX and not start <= page < end:
                self.fail(f"kernel page at va {page:#010x} PTE {pte:#018x} is executable "
                          "outside the kernel's text")

    # -- one directory's user half ---------------------------------------------------

    def user_tables(self, pdes: list[tuple[int, int]], who: str
                    ) -> dict[int, tuple[int, bytes]]:
        """va of each present page table below the kernel base -> (its PDE,
        the table), read once each."""
        tables = {}
        g = self.g
        for va, pde in pdes:
            if va >= self.s.kernel_base or not pde & paging.PRESENT:
                continue
            i = va >> g.pde_shift
            if pde & paging.PS:
                self.fail(f"{who}: PDE {i} {self.entry(pde)} is a large page; the kernel "
                          "maps 4 KiB pages only")
                continue
            table_pa = pde & g.frame_mask
            self.kernel_frames[table_pa] = f"{who}'s page table {i}"
            self.frame_in_use(table_pa, f"{who}: PDE {i}")
            tables[va] = (pde, self.r.read_phys(table_pa, paging.TABLE_BYTES))
        return tables

    def present_ptes(self, tables: dict[int, tuple[int, bytes]]) -> dict[int, tuple[int, int]]:
        """va -> (PTE, its PDE) for every present PTE of ``tables``."""
        present = {}
        for base, (pde, table) in tables.items():
            if table == paging.EMPTY_TABLE:
                continue
            for j, pte in enumerate(self.g.unpack(table)):
                if pte & paging.PRESENT:
                    present[base | j << 12] = (pte, pde)
        return present

    def protnone_ptes(self, tables: dict[int, tuple[int, bytes]]) -> dict[int, int]:
        """va -> PTE for every PROT_NONE entry (P clear, PAGE_PROTNONE set)."""
        kept = {}
        for base, (_, table) in tables.items():
            if table == paging.EMPTY_TABLE:
                continue
            for j, pte in enumerate(self.g.unpack(table)):
                if pte & (paging.PRESENT | PROTNONE) == PROTNONE:
                    kept[base | j << 12] = pte
        return kept

    def protnone_pte(self, p: Space, who: str, va: int, pte: int) -> None:
        """A kept PROT_NONE page: only in a PROT_NONE region, U and
        PAGE_OWNED (its reference), a frame in use, counted in the frame table."""
        frame = pte & self.g.frame_mask
        what = f"{who} va {va:#010x} PROT_NONE entry {self.entry(pte)}"
        region = next((r for r in p.mmap if r[0] <= va < r[1]), None)
        if region is None or region[2] != 0:
            self.fail(f"{what}: outside every PROT_NONE mmap region")
        if pte & (paging.USER | OWNED) != paging.USER | OWNED:
            self.fail(f"{what}: without U and PAGE_OWNED")
        if pte & paging.WRITE:
            self.fail(f"{what}: has W")
        self.frame_in_use(frame, what)
        self.mapped[frame].append((who, va, "private", False))
        self.note(who, va, pte)

    def swapped(self, p: Space, who: str, tables: dict[int, tuple[int, bytes]]) -> None:
        """p's swap entries: where they may lie, and the kernel's count."""
        found = 0
        for base, (_, table) in tables.items():
            if table == paging.EMPTY_TABLE:
                continue
            for j, pte in enumerate(self.g.unpack(table)):
                if not paging.is_swap(pte):
                    continue
                va = base | j << 12
                found += 1
                self.swap_entries.append(swapdec.SwapEntry(who, va, pte))
                region = next((r for r in p.mmap if r[0] <= va < r[1]), None)
                if region is not None and region[3] & MAP_SHARED:
                    self.fail(f"{who} va {va:#010x} swap entry {self.entry(pte)}: in a "
                              "MAP_SHARED region (never swapped)")
                elif region is None and not any(s <= va < e for s, e in p.regions):
                    self.fail(f"{who} va {va:#010x} swap entry {self.entry(pte)}: outside the "
                              "process's image, heap, stack and mmap regions")
        if found != p.swapped:
            self.fail(f"{who}: {found} swap entries, the kernel counts swapped_pages="
                      f"{p.swapped}")

    def swap_audit(self) -> None:
        if self.s.swap is None:
            return
        self.out += swapdec.audit(self.s.swap, self.swap_entries)
        if self.s.frames is None:
            return
        cached = set(self.s.swap.cached().values())
        flagged = {pfn for pfn, info in self.s.frames.held() if info.flags & FRAME_SWAPCACHE}
        for pfn in sorted(flagged - cached):
            self.fail(f"frame {pfn:#x} has FRAME_SWAPCACHE but the swap cache does not hold it")
        for pfn in sorted(cached - flagged):
            self.fail(f"frame {pfn:#x} is in the swap cache without FRAME_SWAPCACHE")

    def kernel_directory_user_half(self) -> None:
        """The kernel's own directory may map pages below the base (tests and
        the VMM API do); they must still be frames the PMM handed out."""
        tables = self.user_tables(self.kernel_pdes, "pid 0")
        for va, (pte, _) in self.present_ptes(tables).items():
            self.note("pid 0", va, pte)
            self.frame_in_use(pte & self.g.frame_mask,
                              f"pid 0 va {va:#010x} PTE {self.entry(pte)}")

    def process(self, p: Space, kernel_half: bytes) -> None:
        who = f"pid {p.pid} ({p.name})"
        self.kernel_frames[p.cr3 & ~0xFFF] = f"{who}'s page directory"
        self.frame_in_use(p.cr3 & ~0xFFF, f"{who}: page directory")
        shared, pdes = self.directories(p.cr3, who)
        self.same_kernel_half(who, shared, kernel_half)
        tables = self.user_tables(pdes, who)
        present, kept = self.present_ptes(tables), self.protnone_ptes(tables)
        if len(present) + len(kept) != p.pages:
            also = f" and {len(kept)} PROT_NONE entries" if kept else ""
            self.fail(f"{who}: {len(present)} present user PTEs{also}, the kernel counts "
                      f"pages={p.pages}")
        for va, pte in kept.items():
            self.protnone_pte(p, who, va, pte)
        self.swapped(p, who, tables)
        attached = self.attachments(p, who, present)
        shm_frames = {f: s.id for s in self.s.segments for f in s.frames}
        for va, (pte, pde) in present.items():
            self.user_pte(p, who, va, pte, pde, attached, shm_frames)

    def same_kernel_half(self, who: str, mine_raw: bytes, kernel_half: bytes) -> None:
        """The kernel half of a space equals the kernel's: its PDEs (legacy), or
        its PDPTE naming the kernel's own directory (PAE).  The CPU sets A in
        whichever copy of a PDE it walks through, and QEMU sets bit 5 in each
        PDPTE it walks: neither is a difference."""
        if mine_raw == kernel_half:
            return
        if self.pae:
            first, fmt, width = pae.pdpi(self.s.kernel_base), "Q", 18
            what = "kernel-half PDPTEs differ from the kernel's: not its directory"
        else:
            first, fmt, width = paging.pdx(self.s.kernel_base), "I", 10
            what = "kernel-half PDEs differ from the kernel directory's"
        count = len(mine_raw) // struct.calcsize(fmt)
        mine = struct.unpack(f"<{count}{fmt}", mine_raw)
        theirs = struct.unpack(f"<{count}{fmt}", kernel_half)
        bad = [f"{first + k}: {a:#0{width}x} != {b:#0{width}x}"
               for k, (a, b) in enumerate(zip(mine, theirs, strict=True))
               if (a ^ b) & ~paging.ACCESSED]
        if bad:
            self.fail(f"{who}: {what} ({', '.join(bad[:4])})")

    def attachments(self, p: Space, who: str, present: dict[int, tuple[int, int]]
                    ) -> dict[int, tuple[Attachment, int, Segment | None]]:
        """va -> (attachment, page index, its segment) for every attached
        page, each of which must be mapped."""
        segments = {s.id: s for s in self.s.segments}
        attached = {}
        for a in p.shm:
            seg = segments.get(a.id)
            if seg is None:
                self.fail(f"{who}: attachment of segment {a.id} at {a.va:#010x}, which "
                          "does not exist (freed while attached?)")
            for k in range(a.pages):
                va = a.va + k * paging.PAGE_SIZE
                attached[va] = (a, k, seg)
                if va not in present:
                    self.fail(f"{who}: page {k} of segment {a.id} at {va:#010x} is not mapped")
        return attached

    def user_pte(self, p: Space, who: str, va: int, pte: int, pde: int,
                 attached: dict[int, tuple[Attachment, int, Segment | None]],
                 shm_frames: dict[int, int]) -> None:
        frame = pte & self.g.frame_mask
        what = f"{who} va {va:#010x} PTE {self.entry(pte)}"
        if not pte & paging.USER:
            self.fail(f"{what}: a user-half page without U")
        if pte & paging.WRITE and any(s <= va < e for s, e in p.readonly):
            self.fail(f"{what}: read-only ELF segment (text) mapped writable")
        if self.nxe and pte & pde & paging.WRITE and not (pte | pde) & pae.NX:
            self.fail(f"{what}: writable and executable (W^X)")
        self.frame_in_use(frame, what)
        kind = "private"
        if va in attached:
            a, k, seg = attached[va]
            if seg is None or (k < len(seg.frames) and frame == seg.frames[k]):
                kind = "shm"
            else:
                self.fail(f"{what}: page {k} of segment {a.id} should map its frame "
                          f"{seg.frames[k] if seg and k < len(seg.frames) else 0:#x}")
        if not pte & OWNED:
            self.fail(f"{what}: not PAGE_OWNED (holds no reference on its frame)")
        region = next((r for r in p.mmap if r[0] <= va < r[1]), None)
        if region is not None and region[3] & MAP_SHARED and va not in attached:
            kind = "mmap-shared"
        if frame in self.cached:
            kind = "file"
            if pte & paging.WRITE:
                self.fail(f"{what}: writable, on page-cache frame {frame:#x} "
                          f"({self.cached[frame]}): a write would change the file's page")
        if region is not None and region[2] == 0:
            self.fail(f"{what}: a page in a PROT_NONE (guard) mmap region")
        if region is not None and pte & paging.WRITE and not region[2] & 2:
            self.fail(f"{what}: writable in an mmap region without PROT_WRITE")
        if va in attached:
            pass  # checked above
        elif region is None and not any(s <= va < e for s, e in p.regions):
            self.fail(f"{what}: outside the process's image, heap, stack, mmap regions and "
                      "attachments")
        elif frame in shm_frames:
            self.fail(f"{what}: frame of segment {shm_frames[frame]}, outside any "
                      "attachment of it")
        self.mapped[frame].append((who, va, kind, bool(pte & paging.WRITE)))
        self.note(who, va, pte)

    # -- across processes -------------------------------------------------------------

    def sharing(self) -> None:
        """A frame in several user PTEs is shared memory in all of them (one
        segment's attachments, or MAP_SHARED mmap regions), or private and
        read-only in all of them (copy-on-write or text after fork): a
        writable private page on a shared frame would leak writes."""
        for frame, users in self.mapped.items():
            if frame in self.kernel_frames:
                who, va, _, _ = users[0]
                self.fail(f"{who} va {va:#010x}: maps frame {frame:#x}, which is "
                          f"{self.kernel_frames[frame]}")
            if len(users) < 2:
                continue
            kinds = {kind for _, _, kind, _ in users}
            readonly = not any(writable for _, _, _, writable in users)
            if kinds not in ({"shm"}, {"mmap-shared"}) and not (kinds in ({"private"}, {"file"})
                                                                and readonly):
                where = ", ".join(f"{who} va {va:#010x}" for who, va, _, _ in users)
                self.fail(f"frame {frame:#x} is mapped by {where}, and not as shared memory")

    def segments(self) -> None:
        live = {p.pid for p in self.s.spaces if not p.zombie}
        seen: dict[int, int] = {}
        for seg in self.s.segments:
            holders = sum(1 for p in self.s.spaces for a in p.shm if a.id == seg.id)
            want = holders + (1 if seg.creator else 0)
            if seg.refs != want:
                self.fail(f"segment {seg.id}: refs={seg.refs}, but {holders} attachments and "
                          f"{'the creator' if seg.creator else 'no creator'} hold it "
                          f"(expected {want})")
            if seg.creator and seg.creator not in live:
                self.fail(f"segment {seg.id}: its creator pid {seg.creator} is not a live "
                          "process (the reference would never be dropped)")
            for frame in seg.frames:
                self.frame_in_use(frame, f"segment {seg.id}")
                if frame in seen:
                    self.fail(f"frame {frame:#x} is in segments {seen[frame]} and {seg.id}")
                seen[frame] = seg.id

    def kernel_references(self) -> dict[int, list[str]]:
        """frame number -> the references the kernel holds without a mapping:
        each live shared-memory segment holds one on each of its frames."""
        refs: dict[int, list[str]] = defaultdict(list)
        for seg in self.s.segments:
            for frame in seg.frames:
                refs[frame >> 12].append(f"segment {seg.id}")
        if self.s.swap is not None:
            for pfn, holders in swapdec.cache_references(self.s.swap).items():
                refs[pfn] += holders
        for frame, what in self.cached.items():
            refs[frame >> 12].append(what)
        if self.s.frames is not None:  # the balloon holds one on each of its frames
            for pfn, info in self.s.frames.held():
                if info.flags & FRAME_BALLOON:
                    refs[pfn].append("balloon")
        return refs

    @cached_property
    def cached(self) -> dict[int, str]:
        """frame -> the page-cache entry holding it ("page cache ino 1 page 0")."""
        return {pa: f"page cache ino {ino} page {index}" for ino, index, pa in self.s.pagecache}

    def pagecache(self) -> None:
        seen: dict[int, int] = defaultdict(int)
        for _, _, pa in self.s.pagecache:
            seen[pa] += 1
        for pa, what in self.cached.items():
            self.frame_in_use(pa, what)
            if seen[pa] > 1:
                self.fail(f"frame {pa:#x} is in {seen[pa]} page-cache entries")
            if pa in self.kernel_frames:
                self.fail(f"{what}: frame {pa:#x} is {self.kernel_frames[pa]}")
        if self.s.frames is None:
            return
        for pfn, info in self.s.frames.held():
            pa = pfn << 12
            if info.flags & FRAME_PAGECACHE and pa not in self.cached:
                self.fail(f"frame {pa:#x}: FRAME_PAGECACHE ({info}), but in no page-cache entry")
        for pa, what in self.cached.items():
            if pa >> 12 < self.s.frames.count and not self.s.frames[pa >> 12].flags & \
                    FRAME_PAGECACHE:
                self.fail(f"{what}: frame {pa:#x} lacks FRAME_PAGECACHE "
                          f"({self.s.frames[pa >> 12]})")

    def frame_table(self) -> None:
        if self.s.frames is not None:
            self.out += audit(self.s.frames, self.held, self.kernel_references(),
                              lambda n: n < self.s.used.count and self.s.used[n])

    def run(self) -> list[str]:
        kernel_half = self.kernel_half()
        self.kernel_directory_user_half()
        for p in self.s.spaces:
            self.process(p, kernel_half)
        self.sharing()
        self.segments()
        self.pagecache()
        self.frame_table()
        self.swap_audit()
        return self.out


def check(reader: paging.PhysReader, state: MemoryState) -> list[str]:
    """Every violation of the invariants above; empty when all hold."""
    return _Checker(reader, state).run()


# -- reading the state from a machine ------------------------------------------------------

def read_state(kernel: Kernel) -> MemoryState:
    """The process table, the shm segments and the PMM's bitmaps, now."""
    used, reserved = kernel.pmm_bitmaps()
    table = kernel.process_table()
    modules = {}
    if table:
        for mod in kernel.modules():
            path = mod["cmdline"].split(" ", 1)[0]
            modules[path.rsplit("/", 1)[-1].removesuffix(".elf")] = mod["start"]
    spaces = []
    for p in table:
        if not p["cr3"]:
            continue
        readonly: list[tuple[int, int]] = []
        if p["name"] in modules:
            readonly = _module_readonly_pages(kernel, modules[p["name"]])
        heap_end = -(-p["brk"] // paging.PAGE_SIZE) * paging.PAGE_SIZE
        regions = ((paging.PAGE_SIZE, p["image_end"]), (p["heap_base"], heap_end),
                   (p["stack_limit"], p["stack_top"]))
        spaces.append(Space(p["pid"], p["name"], p["cr3"], p["pages"], tuple(readonly),
                            tuple(Attachment(*a) for a in p["shm"] if a[0] >= 0),
                            regions, p["state"] == ZOMBIE,
                            tuple(tuple(r) for r in p.get("regions", ())),
                            p.get("swapped_pages", 0)))
    segments = tuple(Segment(s["id"], s["refs"], s["creator"], tuple(s["frames"]))
                     for s in kernel.shm_segments())
    kernel_cr3 = kernel.kernel_directory() - kernel.kernel_base
    text = (kernel.m.symbol("__text_start"), kernel.m.symbol("__text_end"))
    return MemoryState(kernel.kernel_base, kernel_cr3, tuple(spaces), segments, used, reserved,
                       kernel.m.paging_mode() or PagingMode(), text,
                       tuple(kernel.m.ram_ranges()), kernel.frame_table(),
                       tuple((e["ino"], e["index"], e["pfn"] << 12) for e in kernel.page_cache()),
                       swap=kernel.swap_state())


def _module_readonly_pages(kernel: Kernel, start: int) -> list[tuple[int, int]]:
    """The read-only pages of the program loaded from the module at physical
    ``start``: from its own ELF headers in guest RAM, as the kernel read them."""
    head = kernel.m.read_phys(start, 52)
    phoff, = struct.unpack_from("<I", head, 28)
    phentsize, phnum = struct.unpack_from("<HH", head, 42)
    return readonly_pages(kernel.m.read_phys(start, phoff + phentsize * phnum))


class _RamReader:
    """Page tables straight from the guest-RAM file (the machine's read_phys
    checks each range first, which costs more than the read itself here)."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine

    def read_phys(self, addr: int, size: int) -> bytes:
        ram = self.m.ram
        if ram is not None and ram.covers(addr, size):
            return ram.read(addr, size)
        return self.m.read_phys(addr, size)


@dataclass(frozen=True)
class FrameAudit:
    """The audit's numbers, for a report (e.g. after a leak test): frames
    with references in the frame table, the references they hold, the
    PAGE_OWNED PTEs and kernel references found for them, copy-on-write
    PTEs, frames with more than one reference; and the violations."""

    frames: int
    references: int
    owned_ptes: int
    kernel_references: int
    cow_ptes: int
    shared_frames: int
    problems: tuple[str, ...]

    def __str__(self) -> str:
        return (f"frames={self.frames} refs={self.references} owned_ptes={self.owned_ptes} "
                f"kernel_refs={self.kernel_references} cow_ptes={self.cow_ptes} "
                f"shared_frames={self.shared_frames} problems={len(self.problems)}")


def frame_audit(kernel: Kernel) -> FrameAudit:
    """The whole audit (every invariant) with the frame table's numbers."""
    state = read_state(kernel)
    c = _Checker(_RamReader(kernel.m), state)
    problems = c.run()
    assert state.frames is not None
    held = [info for _, info in state.frames.held() if info.refs]
    ptes = [p for refs in c.held.values() for p in refs]
    return FrameAudit(len(held), sum(i.refs for i in held), sum(1 for p in ptes if p.owned),
                      sum(len(k) for k in c.kernel_references().values()),
                      sum(1 for p in ptes if p.cow), sum(1 for i in held if i.refs > 1),
                      tuple(problems))


def mapped_frames(kernel: Kernel) -> dict[int, list[str]]:
    """frame number -> where it is mapped, read from guest RAM now: every user
    PTE naming it (present or PROT_NONE) in every live address space, and
    every kernel-half page that maps it anywhere but at its direct-map address
    (the heap, kernel stacks, kmap); the direct map itself maps every frame
    and is left out."""
    c = _Checker(_RamReader(kernel.m), read_state(kernel))
    c.run()
    named = defaultdict(list, c.named)
    for frame, where in c.kernel_frames.items():
        named[frame >> 12].append(where)
    return dict(named)


def violations(kernel: Kernel) -> list[str]:
    """The invariants checked on ``kernel``'s machine as it is now, the PMM's
    buddy maps against its bitmap among them (pmm_audit.py)."""
    return check(_RamReader(kernel.m), read_state(kernel)) + buddy_audit(kernel)


# -- one frame: who holds it ----------------------------------------------------------------

@dataclass(frozen=True)
class FrameOwners:
    """Everything that names one frame, read from the machine: its frame
    table entry, every present PTE pointing at it (all live address spaces,
    the kernel half once; PAGE_OWNED or not), the kernel's references, and
    the PMM's bit."""

    pa: int
    info: FrameInfo
    ptes: tuple[PteRef, ...]
    kernel: tuple[str, ...]
    used: bool

    @property
    def expected_refs(self) -> int:
        return expected_refs(list(self.ptes), list(self.kernel))

    @property
    def consistent(self) -> bool:
        """refs == PAGE_OWNED PTEs + kernel references."""
        return self.info.refs == self.expected_refs

    def explain(self) -> str:
        return explain(self.pa, self.info, list(self.ptes), list(self.kernel))


def frame_owners(kernel: Kernel, pa: int) -> FrameOwners:
    """Who holds the frame at ``pa`` (any address inside it) right now."""
    frame = pa & ~0xFFF
    state = read_state(kernel)
    c = _Checker(_RamReader(kernel.m), state, want=frame)
    c.run()
    assert state.frames is not None
    pfn = frame >> 12
    info = state.frames[pfn] if pfn < state.frames.count else FrameInfo(0, 0, 0)
    return FrameOwners(frame, info, tuple(c.wanted),
                       tuple(c.kernel_references().get(pfn, [])),
                       pfn < state.used.count and state.used[pfn])
