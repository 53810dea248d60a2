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
- a user PTE inside a shared-memory attachment maps exactly that segment's
  frame, without PAGE_OWNED; every other user PTE is PAGE_OWNED, lies in the
  process's image, heap or stack, and maps a frame of that process alone;
- each segment's reference count is its attachments plus its creator's
  reference, its creator is a live process, its frames are used;
- a process's ``pages`` counter is the number of its present user PTEs.

Every table is read once, whole; the kernel's 256 tables are checked as big
integers (all 1024 entries at once) rather than entry by entry.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from dataclasses import dataclass

from harness.decode import paging
from harness.decode.bitmap import Bitmap
from harness.machine.machine import Machine
from harness.targets.mmverify.kernel import Kernel

OWNED = 0x200  # PAGE_OWNED (vmm.h): an available bit, the directory owns the frame
ZOMBIE = 4     # enum proc_state: ended, address space not yet freed

# Masks over a whole table read as one little-endian integer: bit b of every
# one of the 1024 entries.  Multiplying a "bit 0 of each entry" integer by a
# 32-bit value puts that value in each entry whose bit was set (no carries).
_EVERY = sum(1 << 32 * j for j in range(paging.ENTRIES))
_PRESENT_ALL = _EVERY * paging.PRESENT
_USER_ALL = _EVERY * paging.USER
_FRAMES_ALL = _EVERY * paging.FRAME_MASK
# Entry j of a direct-map table maps the frame (table base + j * 4 KiB).
_OFFSETS = sum(j << 12 << 32 * j for j in range(paging.ENTRIES))


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


@dataclass(frozen=True)
class MemoryState:
    kernel_base: int
    kernel_cr3: int
    spaces: tuple[Space, ...]
    segments: tuple[Segment, ...]
    used: Bitmap
    reserved: Bitmap


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


def _entries_with(table: bytes, bits: int) -> list[int]:
    """Indexes of the present entries of ``table`` with all of ``bits`` set."""
    return [j for j, e in enumerate(struct.unpack(f"<{paging.ENTRIES}I", table))
            if e & paging.PRESENT and e & bits == bits]


class _Checker:
    def __init__(self, reader: paging.PhysReader, state: MemoryState) -> None:
        self.r = reader
        self.s = state
        self.out: list[str] = []
        self.kernel_directory = b""
        self.kernel_frames: dict[int, str] = {}   # frame -> what the kernel uses it for
        # frame -> every (process, va, shared) user mapping of it; shared: in an
        # attachment of the segment that has this frame there
        self.mapped: dict[int, list[tuple[str, int, bool]]] = defaultdict(list)

    def fail(self, text: str) -> None:
        self.out.append(text)

    def frame_in_use(self, frame: int, what: str) -> None:
        """``frame`` must be one the PMM handed out: used, not reserved."""
        n = frame >> 12
        if n >= self.s.used.count:
            self.fail(f"{what}: frame {frame:#x} is beyond the PMM's {self.s.used.count} frames")
        elif not self.s.used[n]:
            self.fail(f"{what}: frame {frame:#x} is free in the PMM's bitmap")
        elif self.s.reserved[n]:
            self.fail(f"{what}: frame {frame:#x} is reserved (firmware, kernel image, bitmaps)")

    # -- the kernel half, shared by every directory ---------------------------------

    def kernel_half(self) -> bytes:
        base = self.s.kernel_base
        first = paging.pdx(base)
        directory = self.kernel_directory = self.r.read_phys(self.s.kernel_cr3,
                                                             paging.TABLE_BYTES)
        self.kernel_frames[self.s.kernel_cr3] = "the kernel's page directory"
        pdes = struct.unpack(f"<{paging.ENTRIES}I", directory)
        for i in range(first, paging.ENTRIES):
            pde, va = pdes[i], i << 22
            if not pde & paging.PRESENT:
                continue
            if pde & paging.USER:
                self.fail(f"kernel PDE {i} (va {va:#010x}) {pde:#010x} has U")
            if pde & paging.PS:
                self.fail(f"kernel PDE {i} (va {va:#010x}) {pde:#010x} is a 4 MiB page; "
                          "the kernel maps 4 KiB pages only")
                continue
            table_pa = pde & paging.FRAME_MASK
            self.kernel_frames[table_pa] = f"the kernel's page table {i}"
            self.frame_in_use(table_pa, f"kernel PDE {i}")
            table = self.r.read_phys(table_pa, paging.TABLE_BYTES)
            if table == paging.EMPTY_TABLE:
                continue
            t = int.from_bytes(table, "little")
            present = t & _PRESENT_ALL
            if t & _USER_ALL & present << 2:
                for j in _entries_with(table, paging.USER):
                    pte, = struct.unpack_from("<I", table, j * 4)
                    self.fail(f"kernel PTE at va {va | j << 12:#010x} {pte:#010x} has U")
            # Frames the kernel maps anywhere but at their direct-map address are
            # its own (heap, kernel stacks): no user PTE may point at them.
            direct = ((va - base) & 0xFFFFFFFF) * _EVERY + _OFFSETS
            if ((t & _FRAMES_ALL) ^ direct) & present * paging.FRAME_MASK:
                for j, pte in enumerate(struct.unpack(f"<{paging.ENTRIES}I", table)):
                    frame = pte & paging.FRAME_MASK
                    if pte & paging.PRESENT and frame != (va | j << 12) - base:
                        where = f"the kernel's page at {va | j << 12:#010x}"
                        self.kernel_frames.setdefault(frame, where)
                        if frame >> 12 < self.s.used.count:  # else a device's (LAPIC)
                            self.frame_in_use(frame, where)
        return directory[first * 4:]

    # -- one directory's user half ---------------------------------------------------

    def user_tables(self, cr3: int, directory: bytes, who: str) -> dict[int, bytes]:
        """The present page tables below the kernel base, read once each."""
        tables = {}
        first = paging.pdx(self.s.kernel_base)
        for i, pde in enumerate(struct.unpack(f"<{first}I", directory[:first * 4])):
            if not pde & paging.PRESENT:
                continue
            if pde & paging.PS:
                self.fail(f"{who}: PDE {i} {pde:#010x} is a 4 MiB page; the kernel maps "
                          "4 KiB pages only")
                continue
            table_pa = pde & paging.FRAME_MASK
            self.kernel_frames[table_pa] = f"{who}'s page table {i}"
            self.frame_in_use(table_pa, f"{who}: PDE {i}")
            tables[i] = self.r.read_phys(table_pa, paging.TABLE_BYTES)
        return tables

    def kernel_directory_user_half(self) -> None:
        """The kernel's own directory may map pages below the base (tests and
        the VMM API do); they must still be frames the PMM handed out."""
        tables = self.user_tables(self.s.kernel_cr3, self.kernel_directory, "pid 0")
        for i, table in tables.items():
            if table == paging.EMPTY_TABLE:
                continue
            for j, pte in enumerate(struct.unpack(f"<{paging.ENTRIES}I", table)):
                if pte & paging.PRESENT:
                    va = i << 22 | j << 12
                    self.frame_in_use(pte & paging.FRAME_MASK,
                                      f"pid 0 va {va:#010x} PTE {pte:#010x}")

    def process(self, p: Space, kernel_half: bytes) -> None:
        who = f"pid {p.pid} ({p.name})"
        directory = self.r.read_phys(p.cr3, paging.TABLE_BYTES)
        self.kernel_frames[p.cr3] = f"{who}'s page directory"
        self.frame_in_use(p.cr3, f"{who}: page directory")
        self.same_kernel_half(who, directory, kernel_half)
        present: dict[int, int] = {}  # va -> PTE
        for i, table in self.user_tables(p.cr3, directory, who).items():
            if table == paging.EMPTY_TABLE:
                continue
            for j, pte in enumerate(struct.unpack(f"<{paging.ENTRIES}I", table)):
                if pte & paging.PRESENT:
                    present[i << 22 | j << 12] = pte
        if len(present) != p.pages:
            self.fail(f"{who}: {len(present)} present user PTEs, the kernel counts "
                      f"pages={p.pages}")
        attached = self.attachments(p, who, present)
        shm_frames = {f: s.id for s in self.s.segments for f in s.frames}
        for va, pte in present.items():
            self.user_pte(p, who, va, pte, attached, shm_frames)

    def same_kernel_half(self, who: str, directory: bytes, kernel_half: bytes) -> None:
        first = paging.pdx(self.s.kernel_base)
        if directory[first * 4:] == kernel_half:
            return
        # The CPU sets A in whichever copy of a PDE it walks through.
        mine = struct.unpack(f"<{paging.ENTRIES - first}I", directory[first * 4:])
        theirs = struct.unpack(f"<{paging.ENTRIES - first}I", kernel_half)
        bad = [f"{first + k}: {a:#010x} != {b:#010x}"
               for k, (a, b) in enumerate(zip(mine, theirs, strict=True))
               if (a ^ b) & ~paging.ACCESSED]
        if bad:
            self.fail(f"{who}: kernel-half PDEs differ from the kernel directory's "
                      f"({', '.join(bad[:4])})")

    def attachments(self, p: Space, who: str, present: dict[int, int]
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

    def user_pte(self, p: Space, who: str, va: int, pte: int,
                 attached: dict[int, tuple[Attachment, int, Segment | None]],
                 shm_frames: dict[int, int]) -> None:
        frame = pte & paging.FRAME_MASK
        what = f"{who} va {va:#010x} PTE {pte:#010x}"
        if not pte & paging.USER:
            self.fail(f"{what}: a user-half page without U")
        if pte & paging.WRITE and any(s <= va < e for s, e in p.readonly):
            self.fail(f"{what}: read-only ELF segment (text) mapped writable")
        self.frame_in_use(frame, what)
        shared = False
        if va in attached:
            a, k, seg = attached[va]
            shared = seg is None or (k < len(seg.frames) and frame == seg.frames[k])
            if not shared:
                self.fail(f"{what}: page {k} of segment {a.id} should map its frame "
                          f"{seg.frames[k] if seg and k < len(seg.frames) else 0:#x}")
            if pte & OWNED:
                self.fail(f"{what}: shared-memory page marked PAGE_OWNED (freed with "
                          "the process, while others map it)")
        elif not pte & OWNED:
            self.fail(f"{what}: not PAGE_OWNED and in no shared-memory attachment")
        elif not any(s <= va < e for s, e in p.regions):
            self.fail(f"{what}: outside the process's image, heap, stack and attachments")
        elif frame in shm_frames:
            self.fail(f"{what}: frame of segment {shm_frames[frame]}, outside any "
                      "attachment of it")
        self.mapped[frame].append((who, va, shared))

    # -- across processes -------------------------------------------------------------

    def sharing(self) -> None:
        for frame, users in self.mapped.items():
            if frame in self.kernel_frames:
                who, va, _ = users[0]
                self.fail(f"{who} va {va:#010x}: maps frame {frame:#x}, which is "
                          f"{self.kernel_frames[frame]}")
            if len(users) > 1 and not all(shared for _, _, shared in users):
                where = ", ".join(f"{who} va {va:#010x}" for who, va, _ in users)
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


def check(reader: paging.PhysReader, state: MemoryState) -> list[str]:
    """Every violation of the invariants above; empty when all hold."""
    c = _Checker(reader, state)
    kernel_half = c.kernel_half()
    c.kernel_directory_user_half()
    for p in state.spaces:
        c.process(p, kernel_half)
    c.sharing()
    c.segments()
    return c.out


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
                            regions, p["state"] == ZOMBIE))
    segments = tuple(Segment(s["id"], s["refs"], s["creator"], tuple(s["frames"]))
                     for s in kernel.shm_segments())
    kernel_cr3 = kernel.kernel_directory() - kernel.kernel_base
    return MemoryState(kernel.kernel_base, kernel_cr3, tuple(spaces), segments, used, reserved)


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


def violations(kernel: Kernel) -> list[str]:
    """The invariants checked on ``kernel``'s machine as it is now."""
    return check(_RamReader(kernel.m), read_state(kernel))
