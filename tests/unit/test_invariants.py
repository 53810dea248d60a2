"""The entry-level invariant checker on synthetic page tables (no QEMU): a
consistent world passes, and each kind of broken entry, counter or sharing
is reported once, naming where."""

import struct
from dataclasses import replace

import pytest

from harness.decode.bitmap import Bitmap
from harness.decode.modes import PagingMode
from harness.decode.paging import ACCESSED, PRESENT, PROTNONE, USER, WRITE, pdx, ptx
from harness.targets.mmverify.invariants import (
    OWNED,
    Attachment,
    MemoryState,
    Segment,
    Space,
    check,
    readonly_pages,
)

BASE = 0xC0000000
FRAMES = 4096          # 16 MiB of RAM
KERNEL_IMAGE = range(0x100, 0x110)  # frames, reserved like the first MiB
HEAP_VA = 0xF0000000
SHM_VA = 0xA0000000
# image, heap (empty: the break at its base), stack
REGIONS = ((0x1000, 0x3000), (0x80000000, 0x80000000), (0xBFF00000, 0xC0000000))


class World:
    """Physical memory (dict of pages), a PMM bitmap and a process table."""

    def __init__(self):
        self.pages: dict[int, bytearray] = {}
        self.reads = 0
        self.used = set(range(0x110))          # first MiB and the kernel image
        self.reserved = set(range(0x110))
        self.next_frame = 0x200000
        self.kernel_cr3 = self.alloc()
        for pa in range(0x100000, 0x110000, 4096):  # some of the direct map
            self.map(self.kernel_cr3, BASE + pa, pa | PRESENT | WRITE)
        self.heap_frame = self.alloc()
        self.map(self.kernel_cr3, HEAP_VA, self.heap_frame | PRESENT | WRITE)
        self.spaces: list[Space] = []
        self.segments: list[Segment] = []

    def alloc(self):
        frame, self.next_frame = self.next_frame, self.next_frame + 4096
        self.used.add(frame >> 12)
        return frame

    def page(self, addr):
        return self.pages.setdefault(addr & ~0xFFF, bytearray(4096))

    def u32(self, addr):
        return struct.unpack_from("<I", self.page(addr), addr & 0xFFF)[0]

    def set_u32(self, addr, value):
        struct.pack_into("<I", self.page(addr), addr & 0xFFF, value)

    def read_phys(self, addr, size):
        self.reads += 1
        assert size == 4096 and addr % 4096 == 0, "whole tables only"
        return bytes(self.page(addr))

    def map(self, cr3, va, pte):
        """Write va's PTE in cr3's tables, making the page table if needed
        (a user table's PDE allows everything, as the kernel's do)."""
        pde = self.u32(cr3 + pdx(va) * 4)
        if not pde & PRESENT:
            pde = self.alloc() | PRESENT | WRITE | (USER if va < BASE else 0)
            self.set_u32(cr3 + pdx(va) * 4, pde)
        self.set_u32((pde & ~0xFFF) + ptx(va) * 4, pte)

    def pte_address(self, cr3, va):
        return (self.u32(cr3 + pdx(va) * 4) & ~0xFFF) + ptx(va) * 4

    def process(self, pid, shm=()):
        """A process with a text page, a data page and a stack page, its kernel
        half shared with the kernel directory."""
        cr3 = self.alloc()
        self.page(cr3)[768 * 4:] = self.page(self.kernel_cr3)[768 * 4:]
        self.map(cr3, 0x1000, self.alloc() | PRESENT | USER | OWNED)
        self.map(cr3, 0x2000, self.alloc() | PRESENT | USER | WRITE | OWNED)
        self.map(cr3, 0xBFFFF000, self.alloc() | PRESENT | USER | WRITE | OWNED)
        for a in shm:
            seg = next(s for s in self.segments if s.id == a.id)
            for k in range(a.pages):
                self.map(cr3, a.va + k * 4096, seg.frames[k] | PRESENT | USER | WRITE | OWNED)
        space = Space(pid, f"prog{pid}", cr3, 3 + sum(a.pages for a in shm),
                      ((0x1000, 0x2000),), tuple(shm), REGIONS)
        self.spaces.append(space)
        return space

    def state(self):
        def bitmap(frames):
            return Bitmap(sum(1 << f for f in frames).to_bytes(FRAMES // 8, "little"), FRAMES)
        return MemoryState(BASE, self.kernel_cr3, tuple(self.spaces), tuple(self.segments),
                           bitmap(self.used), bitmap(self.reserved))

    def check(self):
        return check(self, self.state())


@pytest.fixture
def world():
    """Two processes sharing one segment (pid 1 created it), attached at
    different addresses: refs = creator + two attachments."""
    w = World()
    w.segments.append(Segment(1, 3, 1, (w.alloc(),)))
    w.process(1, [Attachment(1, SHM_VA, 1)])
    w.process(2, [Attachment(1, SHM_VA + 0x5000, 1)])
    return w


def test_a_consistent_world_has_no_violations(world):
    assert world.check() == []


def test_one_read_per_table(world):
    world.reads = 0
    world.check()
    # kernel: directory + 2 tables; each process: directory + 3 user tables
    assert world.reads == 3 + 2 * 4


def test_a_kernel_pte_with_user(world):
    at = world.pte_address(world.kernel_cr3, BASE + 0x105000)
    world.set_u32(at, world.u32(at) | USER)
    assert world.check() == ["kernel PTE at va 0xc0105000 0x00105007 has U"]


def test_a_user_mapping_at_the_kernel_base(world):
    """What a map check of `va > KERNEL_BASE` lets through."""
    world.map(world.kernel_cr3, BASE, world.alloc() | PRESENT | USER)
    frame = world.next_frame - 4096
    assert world.check() == [f"kernel PTE at va 0xc0000000 {frame | 5:#010x} has U"]


def test_a_kernel_pde_with_user(world):
    pde = world.u32(world.kernel_cr3 + 960 * 4)
    world.set_u32(world.kernel_cr3 + 960 * 4, pde | USER)
    for p in world.spaces:
        world.set_u32(p.cr3 + 960 * 4, pde | USER)
    assert world.check() == [f"kernel PDE 960 (va 0xf0000000) {pde | USER:#010x} has U"]


def test_a_process_whose_kernel_half_differs(world):
    p = world.spaces[1]
    pde = world.u32(p.cr3 + 960 * 4)
    world.set_u32(p.cr3 + 960 * 4, pde | ACCESSED)
    assert world.check() == [], "the CPU sets A in each directory's own copy"
    world.set_u32(p.cr3 + 960 * 4, 0)
    assert world.check() == [f"pid 2 (prog2): kernel-half PDEs differ from the kernel "
                             f"directory's (960: 0x00000000 != {pde:#010x})"]


def test_writable_text(world):
    p = world.spaces[0]
    at = world.pte_address(p.cr3, 0x1000)
    world.set_u32(at, world.u32(at) | WRITE)
    assert world.check() == [f"pid 1 (prog1) va 0x00001000 PTE {world.u32(at):#010x}: "
                             "read-only ELF segment (text) mapped writable"]


def test_a_user_page_without_user(world):
    p = world.spaces[0]
    at = world.pte_address(p.cr3, 0x2000)
    world.set_u32(at, world.u32(at) & ~USER)
    assert world.check() == [f"pid 1 (prog1) va 0x00002000 PTE {world.u32(at):#010x}: "
                             "a user-half page without U"]


def test_a_user_frame_that_is_free(world):
    p = world.spaces[0]
    frame = world.u32(world.pte_address(p.cr3, 0xBFFFF000)) & ~0xFFF
    world.used.discard(frame >> 12)
    pte = world.u32(world.pte_address(p.cr3, 0xBFFFF000))
    assert world.check() == [f"pid 1 (prog1) va 0xbffff000 PTE {pte:#010x}: frame "
                             f"{frame:#x} is free in the PMM's bitmap"]


def test_a_user_frame_that_is_reserved(world):
    p = world.spaces[0]
    at = world.pte_address(p.cr3, 0x2000)
    world.set_u32(at, 0x105000 | PRESENT | USER | WRITE | OWNED)  # the kernel image
    assert world.check() == ["pid 1 (prog1) va 0x00002000 PTE 0x00105207: frame 0x105000 is "
                             "reserved (firmware, kernel image, bitmaps)"]


def test_a_user_pte_at_a_page_table(world):
    p = world.spaces[0]
    table = world.u32(p.cr3) & ~0xFFF
    at = world.pte_address(p.cr3, 0x2000)
    world.set_u32(at, table | PRESENT | USER | WRITE | OWNED)
    assert world.check() == [f"pid 1 (prog1) va 0x00002000: maps frame {table:#x}, which is "
                             "pid 1 (prog1)'s page table 0"]


def test_a_user_pte_at_the_kernel_heap(world):
    p = world.spaces[1]
    at = world.pte_address(p.cr3, 0x2000)
    world.set_u32(at, world.heap_frame | PRESENT | USER | WRITE | OWNED)
    assert world.check() == [f"pid 2 (prog2) va 0x00002000: maps frame {world.heap_frame:#x}, "
                             "which is the kernel's page at 0xf0000000"]


def test_an_owned_frame_mapped_by_two_processes(world):
    a, b = world.spaces
    theirs = world.u32(world.pte_address(a.cr3, 0x2000))
    world.set_u32(world.pte_address(b.cr3, 0x2000), theirs)
    frame = theirs & ~0xFFF
    assert world.check() == [f"frame {frame:#x} is mapped by pid 1 (prog1) va 0x00002000, "
                             "pid 2 (prog2) va 0x00002000, and not as shared memory"]


def test_the_pages_counter(world):
    p = world.spaces[0]
    world.spaces[0] = Space(p.pid, p.name, p.cr3, p.pages + 1, p.readonly, p.shm, p.regions)
    assert world.check() == ["pid 1 (prog1): 4 present user PTEs, the kernel counts pages=5"]


def test_an_attach_that_took_no_reference(world):
    """shm_attach without refs++: the count is one short."""
    s = world.segments[0]
    world.segments[0] = Segment(s.id, 2, s.creator, s.frames)
    assert world.check() == ["segment 1: refs=2, but 2 attachments and the creator hold it "
                             "(expected 3)"]


def test_a_segment_freed_while_attached(world):
    """What that missing reference leads to: the last put frees the frames
    while another process still maps them."""
    frame = world.segments[0].frames[0]
    world.segments.clear()
    world.used.discard(frame >> 12)
    pte = frame | PRESENT | USER | WRITE | OWNED
    assert world.check() == [
        "pid 1 (prog1): attachment of segment 1 at 0xa0000000, which does not exist "
        "(freed while attached?)",
        f"pid 1 (prog1) va 0xa0000000 PTE {pte:#010x}: frame {frame:#x} is free in the "
        "PMM's bitmap",
        "pid 2 (prog2): attachment of segment 1 at 0xa0005000, which does not exist "
        "(freed while attached?)",
        f"pid 2 (prog2) va 0xa0005000 PTE {pte:#010x}: frame {frame:#x} is free in the "
        "PMM's bitmap"]


def test_a_shared_page_without_owned(world):
    """Every mapping holds a reference on its frame, shared memory's too."""
    at = world.pte_address(world.spaces[1].cr3, SHM_VA + 0x5000)
    world.set_u32(at, world.u32(at) & ~OWNED)
    assert world.check() == [f"pid 2 (prog2) va 0xa0005000 PTE {world.u32(at):#010x}: "
                             "not PAGE_OWNED (holds no reference on its frame)"]


def test_a_shared_frame_outside_an_attachment(world):
    p = world.spaces[0]
    frame = world.segments[0].frames[0]
    at = world.pte_address(p.cr3, 0x2000)
    world.set_u32(at, frame | PRESENT | USER | WRITE | OWNED)
    own = world.u32(world.pte_address(p.cr3, 0x2000))
    assert world.check() == [f"pid 1 (prog1) va 0x00002000 PTE {own:#010x}: frame of "
                             "segment 1, outside any attachment of it",
                             f"frame {frame:#x} is mapped by pid 1 (prog1) va 0x00002000, "
                             "pid 1 (prog1) va 0xa0000000, pid 2 (prog2) va 0xa0005000, and "
                             "not as shared memory"]


def test_an_attachment_that_is_not_mapped(world):
    p = world.spaces[0]
    world.set_u32(world.pte_address(p.cr3, SHM_VA), 0)
    world.spaces[0] = Space(p.pid, p.name, p.cr3, p.pages - 1, p.readonly, p.shm, p.regions)
    assert world.check() == ["pid 1 (prog1): page 0 of segment 1 at 0xa0000000 is not mapped"]


def test_a_creator_that_is_gone(world):
    world.spaces.pop(0)
    s = world.segments[0]
    world.segments[0] = Segment(s.id, 2, s.creator, s.frames)
    assert world.check() == ["segment 1: its creator pid 1 is not a live process (the "
                             "reference would never be dropped)"]


def elf(*segments):
    """An ELF header and program headers: segments are (type, vaddr, memsz, flags)."""
    head = bytearray(52)
    struct.pack_into("<I", head, 28, 52)
    struct.pack_into("<HH", head, 42, 32, len(segments))
    for ptype, vaddr, memsz, flags in segments:
        head += struct.pack("<8I", ptype, 0, vaddr, vaddr, memsz, memsz, flags, 0x1000)
    return bytes(head)


def test_readonly_pages_of_an_elf():
    text, data, stack = (1, 0x1000, 0x2100, 5), (1, 0x4000, 0x10, 6), (0x6474E551, 0, 0, 6)
    assert readonly_pages(elf(text, data, stack)) == [(0x1000, 0x4000)]
    shares = (1, 0x3800, 0x1000, 6)  # a writable segment in text's last page and the next
    assert readonly_pages(elf(text, shares)) == [(0x1000, 0x3000)]
    assert readonly_pages(elf((1, 0x1000, 0, 5))) == [], "nothing loaded"


def test_an_attachment_that_maps_another_frame(world):
    p = world.spaces[1]
    at = world.pte_address(p.cr3, SHM_VA + 0x5000)
    other = world.alloc()
    world.set_u32(at, other | PRESENT | USER | WRITE | OWNED)
    assert world.check() == [f"pid 2 (prog2) va 0xa0005000 PTE {other | 7 | OWNED:#010x}: "
                             f"page 0 of segment 1 should map its frame "
                             f"{world.segments[0].frames[0]:#x}"]


def test_a_page_outside_every_region(world):
    """A heap page left mapped above the break (a brk that shrank without
    unmapping it)."""
    p = world.spaces[0]
    frame = world.alloc()
    world.map(p.cr3, 0x80000000, frame | PRESENT | USER | WRITE | OWNED)
    world.spaces[0] = Space(p.pid, p.name, p.cr3, p.pages + 1, p.readonly, p.shm, p.regions)
    assert world.check() == [f"pid 1 (prog1) va 0x80000000 PTE {frame | 0x207:#010x}: outside "
                             "the process's image, heap, stack, mmap regions and attachments"]


# -- PAE: 64-bit entries, the kernel's directory under PDPTE 3, NX ------------------

NX = 1 << 63
TEXT = (BASE + 0x100000, BASE + 0x104000)  # the kernel's code: executable


class PaeWorld(World):
    """World's machine under PAE with EFER.NXE: each space a PDPT whose
    entry 3 is the kernel's one directory; kernel pages NX but the text,
    user data and stack NX, user text executable."""

    def __init__(self):
        self.pages = {}
        self.reads = 0
        self.used = set(range(0x110))
        self.reserved = set(range(0x110))
        self.next_frame = 0x200000
        self.kernel_cr3 = self.alloc() + 0x20  # a PDPT need only be 32-byte aligned
        for pa in range(0x100000, 0x110000, 4096):
            nx = 0 if TEXT[0] <= BASE + pa < TEXT[1] else NX
            self.map(self.kernel_cr3, BASE + pa, pa | PRESENT | WRITE | nx)
        self.heap_frame = self.alloc()
        self.map(self.kernel_cr3, HEAP_VA, self.heap_frame | PRESENT | WRITE | NX)
        self.spaces = []
        self.segments = []

    def u64(self, addr):
        return struct.unpack_from("<Q", self.page(addr), addr & 0xFFF)[0]

    def set_u64(self, addr, value):
        struct.pack_into("<Q", self.page(addr), addr & 0xFFF, value)

    def read_phys(self, addr, size):
        self.reads += 1
        assert (size, addr % 32) == (32, 0) or (size, addr % 4096) == (4096, 0)
        return bytes(self.page(addr)[addr % 4096:addr % 4096 + size])

    def pde_address(self, cr3, va):
        pdpte = self.u64(cr3 + (va >> 30) * 8)
        if not pdpte & PRESENT:
            pdpte = self.alloc() | PRESENT
            self.set_u64(cr3 + (va >> 30) * 8, pdpte)
        return (pdpte & ~0xFFF) + (va >> 21 & 0x1FF) * 8

    def map(self, cr3, va, pte):
        at = self.pde_address(cr3, va)
        pde = self.u64(at)
        if not pde & PRESENT:
            pde = self.alloc() | PRESENT | WRITE | (USER if va < BASE else 0)
            self.set_u64(at, pde)
        self.set_u64((pde & ~0xFFF) + (va >> 12 & 0x1FF) * 8, pte)

    def pte_address(self, cr3, va):
        return (self.u64(self.pde_address(cr3, va)) & ~0xFFF) + (va >> 12 & 0x1FF) * 8

    def process(self, pid, shm=()):
        cr3 = self.alloc()
        self.set_u64(cr3 + 24, self.u64(self.kernel_cr3 + 24))  # the kernel's directory
        self.map(cr3, 0x1000, self.alloc() | PRESENT | USER | OWNED)
        self.map(cr3, 0x2000, self.alloc() | PRESENT | USER | WRITE | OWNED | NX)
        self.map(cr3, 0xBFFFF000, self.alloc() | PRESENT | USER | WRITE | OWNED | NX)
        space = Space(pid, f"prog{pid}", cr3, 3, ((0x1000, 0x2000),), (), REGIONS)
        self.spaces.append(space)
        return space

    def state(self, nxe=True):
        return replace(super().state(), mode=PagingMode(pae=True, nxe=nxe), kernel_text=TEXT)

    def check(self, nxe=True):
        return check(self, self.state(nxe))


@pytest.fixture
def paeworld():
    w = PaeWorld()
    w.process(1)
    w.process(2)
    return w


def test_pae_a_consistent_world_has_no_violations(paeworld):
    assert paeworld.check() == []
    # the same tables in legacy mode are nonsense: the checker reads by the mode
    assert check(paeworld, replace(paeworld.state(), mode=PagingMode())) != []


def test_pae_one_read_per_table(paeworld):
    paeworld.reads = 0
    paeworld.check()
    # kernel: PDPT, directory 3, 2 tables; each process: PDPT, directories 0 and 2,
    # 2 tables (text and data share one), and directory 3 again
    assert paeworld.reads == 4 + 2 * 6


def test_pae_a_kernel_pte_with_user(paeworld):
    at = paeworld.pte_address(paeworld.kernel_cr3, BASE + 0x105000)
    paeworld.set_u64(at, paeworld.u64(at) | USER)
    assert paeworld.check() == [
        f"kernel PTE at va 0xc0105000 {0x105007 | NX:#018x} has U"]


def test_pae_a_kernel_pde_with_user(paeworld):
    at = paeworld.pde_address(paeworld.kernel_cr3, HEAP_VA)
    paeworld.set_u64(at, paeworld.u64(at) | USER)
    pde = paeworld.u64(at)
    assert paeworld.check() == [f"kernel PDE 1920 (va 0xf0000000) {pde:#018x} has U"]


def test_pae_a_pdpte_with_reserved_bits(paeworld):
    """R/W in a PDPTE, as a legacy PDE would have it, is a reserved bit."""
    p = paeworld.spaces[0]
    paeworld.set_u64(p.cr3, paeworld.u64(p.cr3) | WRITE)
    raw = paeworld.u64(p.cr3)
    out = paeworld.check()
    assert out[0] == (f"pid 1 (prog1): PDPTE 0 {raw:#018x} has reserved bits set (the CPU "
                      "refuses this PDPT)")
    assert out[1:] == ["pid 1 (prog1): 1 present user PTEs, the kernel counts pages=3"]


def test_pae_a_process_with_a_copy_of_the_kernel_directory(paeworld):
    """The kernel half is the kernel's directory itself: a copy, even an
    exact one, goes stale at the kernel's next new page table."""
    p = paeworld.spaces[1]
    copy = paeworld.alloc()
    kernel_pdpte3 = paeworld.u64(paeworld.kernel_cr3 + 24)
    paeworld.pages[copy] = bytearray(paeworld.page(kernel_pdpte3 & ~0xFFF))
    paeworld.set_u64(p.cr3 + 24, copy | PRESENT)
    assert paeworld.check() == [
        f"pid 2 (prog2): kernel-half PDPTEs differ from the kernel's: not its directory "
        f"(3: {copy | PRESENT:#018x} != {kernel_pdpte3:#018x})"]


def test_pae_a_kernel_pdpte_that_differs_only_in_bit_5_is_the_kernels(paeworld):
    """QEMU sets bit 5 (accessed) in each PDPTE it walks: in one PDPT and not
    the other is no difference."""
    p = paeworld.spaces[1]
    paeworld.set_u64(p.cr3 + 24, paeworld.u64(p.cr3 + 24) ^ 0x20)
    assert paeworld.check() == []
    paeworld.set_u64(p.cr3 + 24, paeworld.u64(p.cr3 + 24) ^ 0x08)  # PWT: allowed, and not 5
    assert [v.split(":")[1] for v in paeworld.check()] == [
        " kernel-half PDPTEs differ from the kernel's"], "any other bit is a difference"


def test_pae_a_user_page_writable_and_executable(paeworld):
    p = paeworld.spaces[0]
    at = paeworld.pte_address(p.cr3, 0xBFFFF000)
    pte = paeworld.u64(at) & ~NX
    paeworld.set_u64(at, pte)
    assert paeworld.check() == [
        f"pid 1 (prog1) va 0xbffff000 PTE {pte:#018x}: writable and executable (W^X)"]
    # NX in the PDE covers it; with EFER.NXE off nothing is executable-checked
    pde_at = paeworld.pde_address(p.cr3, 0xBFFFF000)
    paeworld.set_u64(pde_at, paeworld.u64(pde_at) | NX)
    assert paeworld.check() == []


def test_pae_writable_and_executable_is_not_checked_without_nxe(paeworld):
    p = paeworld.spaces[0]
    at = paeworld.pte_address(p.cr3, 0xBFFFF000)
    paeworld.set_u64(at, paeworld.u64(at) & ~NX)
    for space in paeworld.spaces:  # no NX bits at all: they would be reserved bits
        for va in (0x2000, 0xBFFFF000):
            a = paeworld.pte_address(space.cr3, va)
            paeworld.set_u64(a, paeworld.u64(a) & ~NX)
    assert [v for v in paeworld.check(nxe=False) if "kernel" not in v] == []


def test_pae_a_kernel_page_outside_the_text_executable(paeworld):
    at = paeworld.pte_address(paeworld.kernel_cr3, HEAP_VA)
    pte = paeworld.u64(at) & ~NX
    paeworld.set_u64(at, pte)
    text_end = paeworld.pte_address(paeworld.kernel_cr3, TEXT[1])
    paeworld.set_u64(text_end, paeworld.u64(text_end) & ~NX)  # the first page past the text
    assert paeworld.check() == [
        f"kernel page at va 0xc0104000 PTE {0x104003:#018x} is executable outside the "
        "kernel's text",
        f"kernel page at va 0xf0000000 PTE {pte:#018x} is executable outside the kernel's text"]


def test_pae_a_user_pte_at_a_process_directory(paeworld):
    """Under PAE a process's directories hang from its PDPT: they are the
    kernel's frames too."""
    p1, p2 = paeworld.spaces
    directory = paeworld.u64(p2.cr3) & ~0xFFF
    at = paeworld.pte_address(p1.cr3, 0x2000)
    pte = directory | PRESENT | USER | WRITE | OWNED | NX
    paeworld.set_u64(at, pte)
    assert paeworld.check() == [
        f"pid 1 (prog1) va 0x00002000: maps frame {directory:#x}, which is pid 2 (prog2)'s "
        "page directory 0"]



def with_guard(world, entry_flags):
    """pid 1 with a PROT_NONE mmap region at 0x40000000 holding one kept
    page (a PROT_NONE entry with ``entry_flags``), counted in its pages."""
    p = world.spaces[0]
    frame = world.alloc()
    world.map(p.cr3, 0x40000000, frame | entry_flags)
    world.spaces[0] = replace(p, pages=p.pages + 1,
                              mmap=((0x40000000, 0x40001000, 0, 0x02),))
    return frame


def test_a_kept_prot_none_page_in_a_prot_none_region(world):
    with_guard(world, PROTNONE | USER | OWNED)
    assert world.check() == []


def test_a_prot_none_entry_outside_a_prot_none_region(world):
    frame = with_guard(world, PROTNONE | USER | OWNED)
    p = world.spaces[0]
    world.spaces[0] = replace(p, mmap=((0x40000000, 0x40001000, 3, 0x02),))
    assert world.check() == [f"pid 1 (prog1) va 0x40000000 PROT_NONE entry {frame | 0x304:#010x}"
                             ": outside every PROT_NONE mmap region"]


def test_a_prot_none_entry_without_owned_or_with_write(world):
    frame = with_guard(world, PROTNONE | USER | WRITE)
    assert world.check() == [
        f"pid 1 (prog1) va 0x40000000 PROT_NONE entry {frame | 0x106:#010x}: without U and "
        "PAGE_OWNED",
        f"pid 1 (prog1) va 0x40000000 PROT_NONE entry {frame | 0x106:#010x}: has W"]
