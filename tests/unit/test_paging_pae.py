"""The PAE walker on hand-built tables in a fake physical memory (no QEMU):
the PDPT, 4 KiB and 2 MiB pages, NX at each level, frames past 4 GiB,
reserved bits and entries not present at each level."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.decode import modes, pae, pae_dump, paging
from harness.decode.pae import NX, PaeEntry, user_write_runs, walk_pae
from harness.decode.paging import (
    ACCESSED,
    COW,
    DIRTY,
    GLOBAL,
    OWNED,
    PCD,
    PRESENT,
    PROTNONE,
    PS,
    PWT,
    USER,
    WRITE,
    Region,
)

GiB = 1 << 30
MiB = 1 << 20
CR3 = 0x1020  # PDPT is 32-byte aligned: CR3 bits 11:5 are part of its address
PD_BASE = 0x10000  # directory i at PD_BASE + i * 4 KiB
PT_BASE = 0x20000


class FakeMemory:
    """Physical memory (past 4 GiB too) as a dict of 4 KiB pages, counting reads."""

    def __init__(self):
        self.pages: dict[int, bytearray] = {}
        self.reads: list[tuple[int, int]] = []

    def page(self, addr):
        return self.pages.setdefault(addr & ~0xFFF, bytearray(4096))

    def set_u64(self, addr, value):
        struct.pack_into("<Q", self.page(addr), addr & 0xFFF, value)

    def read_phys(self, addr, size):
        self.reads.append((addr, size))
        assert addr % 4096 + size <= 4096, "a read stays in one page"
        return bytes(self.page(addr)[addr % 4096:addr % 4096 + size])


class Builder:
    """PAE tables in a FakeMemory: PDPTEs made on first use (present, nothing
    else: their R/W and U/S positions are reserved), page tables likewise
    (present, writable, user), so a test's own entry decides the rights."""

    def __init__(self):
        self.mem = FakeMemory()
        self.next_table = PT_BASE

    def pdpte(self, i, raw=None):
        self.mem.set_u64(CR3 + i * 8, PD_BASE + i * 0x1000 | PRESENT if raw is None else raw)

    def pde_addr(self, va):
        return PD_BASE + pae.pdpi(va) * 0x1000 + pae.pdx(va) * 8

    def pde(self, va, raw):
        self.pdpte(pae.pdpi(va))
        self.mem.set_u64(self.pde_addr(va), raw)

    def table(self, va, pde_flags=PRESENT | WRITE | USER):
        """The page table for va's 2 MiB slot (made with ``pde_flags`` if new)."""
        addr = self.pde_addr(va)
        current = struct.unpack_from("<Q", self.mem.page(addr), addr & 0xFFF)[0]
        if not current & PRESENT:
            self.pde(va, self.next_table | pde_flags)
            self.next_table += 0x1000
            return self.next_table - 0x1000
        return current & 0xFFFFFF000

    def pte(self, va, raw, pde_flags=PRESENT | WRITE | USER):
        self.mem.set_u64(self.table(va, pde_flags) + pae.ptx(va) * 8, raw)

    def walk(self, **kw):
        return walk_pae(self.mem, CR3, **kw)


class TestEntry:
    def test_pte_past_4_gib(self):
        e = PaeEntry(0x9_1234_5000 | PRESENT | WRITE | ACCESSED | DIRTY, 1)
        assert e.present and e.write and not e.user and e.dirty and e.maps_page
        assert e.frame == 0x9_1234_5000 and not e.large and not e.reserved_bits_set
        assert str(e) == "PTE 0x0000000912345063 -> 0x912345000 [PWAD]"

    def test_2_mib_pde(self):
        e = PaeEntry(0x1_0020_0000 | PRESENT | PS | GLOBAL | 1 << 12, 2)  # bit 12: PAT
        assert e.large and e.maps_page and e.global_ and e.frame == 0x1_0020_0000
        assert not e.reserved_bits_set

    @pytest.mark.parametrize("bit", range(13, 21))
    def test_2_mib_pde_bits_20_13_are_reserved(self, bit):
        assert PaeEntry(0x200000 | PRESENT | PS | 1 << bit, 2).reserved_bits_set
        assert not PaeEntry(0x200000 | PRESENT | 1 << bit, 2).reserved_bits_set  # a table

    @pytest.mark.parametrize("level", [1, 2])
    def test_nx_is_execute_disable_only_with_nxe(self, level):
        with_nxe = PaeEntry(0x5000 | PRESENT | NX, level, nxe=True)
        assert with_nxe.nx and not with_nxe.reserved_bits_set and with_nxe.frame == 0x5000
        without = PaeEntry(0x5000 | PRESENT | NX, level, nxe=False)
        assert not without.nx and without.reserved_bits_set

    def test_pdpte_nx_is_reserved_even_with_nxe(self):
        e = PaeEntry(0x5000 | PRESENT | NX, 3, nxe=True)
        assert not e.nx and e.reserved_bits_set

    @pytest.mark.parametrize("bit", [1, 2, 6, 7, 8])
    def test_pdpte_reserved_low_bits(self, bit):
        assert PaeEntry(0x5000 | PRESENT | 1 << bit, 3).reserved_bits_set

    # Bit 5: QEMU sets it in the PDPTEs it walks (see PDPTE_RESERVED_LOW).
    @pytest.mark.parametrize("bit", [0, 3, 4, 5, 9, 10, 11])
    def test_pdpte_allowed_low_bits(self, bit):
        assert not PaeEntry(0x5000 | PRESENT | 1 << bit, 3).reserved_bits_set

    @pytest.mark.parametrize("maxphyaddr", [32, 36, 40, 52])
    @pytest.mark.parametrize("level", [1, 2, 3])
    def test_address_bits_past_maxphyaddr_are_reserved(self, maxphyaddr, level):
        top = 1 << maxphyaddr - 1
        assert not PaeEntry(top | PRESENT, level, maxphyaddr=maxphyaddr).reserved_bits_set
        if maxphyaddr < 52:
            assert PaeEntry(top << 1 | PRESENT, level, maxphyaddr=maxphyaddr).reserved_bits_set
        assert PaeEntry(1 << 62 | PRESENT, level, maxphyaddr=maxphyaddr).reserved_bits_set

    def test_str_marks_nx_with_x_and_reserved_bits(self):
        assert str(PaeEntry(0x5000 | PRESENT | NX, 1, nxe=True)) == (
            "PTE 0x8000000000005001 -> 0x5000 [PX]")
        assert str(PaeEntry(0x5000 | PRESENT | NX, 1)) == (
            "PTE 0x8000000000005001 -> 0x5000 [PX] reserved bits set")

    def test_not_present_entry_has_no_reserved_bits_to_check(self):
        assert not PaeEntry(0xFFFF_FFFF_FFFF_FFFE, 1).reserved_bits_set

    def test_maxphyaddr_outside_32_to_52_is_an_error(self):
        with pytest.raises(ValueError) as e:
            _ = PaeEntry(PRESENT, 1, maxphyaddr=53).frame
        assert str(e.value) == "MAXPHYADDR 53 is outside 32..52"


class TestTranslate:
    def test_4k_page_and_reads(self):
        b = Builder()
        b.pte(0xC0101000, 0x3_0000_7000 | PRESENT | WRITE)
        space = b.walk()
        # one read of the 32-byte PDPT at CR3 & ~0x1F, then the directory, then the table
        assert b.mem.reads == [(CR3, 32), (PD_BASE + 3 * 0x1000, 4096), (PT_BASE, 4096)]
        t = space.translate(0xC0101ABC)
        assert t.pa == 0x3_0000_7ABC and t.write and not t.user and t.execute
        assert t.rights() == "-rwx" and not t.reserved
        assert str(t).splitlines() == [
            "va 0xc0101abc: PDPI 3 PDX 0 PTX 257 offset 0xabc",
            "  PDPTE 0x0000000000013001 -> 0x13000 [P]",
            "  PDE 0x0000000000020007 -> 0x20000 [PWU]",
            "  PTE 0x0000000300007003 -> 0x300007000 [PW]",
            "  -> 0x300007abc -rwx"]

    def test_2_mib_page(self):
        b = Builder()
        b.pde(0x40200000, 0x2_0040_0000 | PRESENT | PS | USER)
        t = b.walk().translate(0x402FEDCB)
        assert t.pa == 0x2_004F_EDCB and t.pte is None and t.user and not t.write
        assert b.mem.reads == [(CR3, 32), (PD_BASE + 0x1000, 4096)]  # no table for 2 MiB

    def test_2_mib_translation_keeps_its_va_and_pdpte(self):
        b = Builder()
        b.pde(0x40200000, 0x2_0040_0000 | PRESENT | PS | USER)
        t = b.walk().translate(0x402FEDCB)
        assert t.va == 0x402FEDCB and t.pdpte.raw == PD_BASE + 0x1000 | PRESENT
        assert str(t).splitlines() == [
            "va 0x402fedcb: PDPI 1 PDX 1 PTX 254 offset 0xdcb",
            "  PDPTE 0x0000000000011001 -> 0x11000 [P]",
            "  PDE 0x0000000200400085 -> 0x200400000 [PUS]",
            "  -> 0x2004fedcb ur-x"]

    def test_nx_pte_is_read_unsigned(self):
        """Bit 63 is the sign bit of a signed 64-bit read: the raw entry stays positive."""
        b = Builder()
        b.pte(0x1000, 0x5000 | PRESENT | NX)
        t = b.walk(nxe=True).translate(0x1000)
        assert t.pte.raw == 0x8000000000005001 and t.pa == 0x5000 and t.rights() == "-r--"

    def test_pat_bit_in_a_pte_is_not_a_2_mib_page(self):
        """Bit 7 of a PTE is PAT, where a PDE has PS: the PTE still maps 4 KiB
        at its own frame (bits 20:13 of it are address bits, not reserved)."""
        b = Builder()
        b.pte(0x1000, 0x1F_E000 | PRESENT | PS)
        space = b.walk()
        assert [(m.va, m.pa, m.size) for m in space.mappings()] == [(0x1000, 0x1F_E000, 4096)]
        assert space.translate(0x1234).pa == 0x1F_E234

    def test_nx_is_reserved_by_default(self):
        """Without nxe= the walker assumes EFER.NXE clear: bit 63 faults."""
        b = Builder()
        b.pte(0x1000, 0x5000 | PRESENT | NX)
        assert b.walk().translate(0x1000).reserved
        assert list(b.walk().mappings()) == []

    def test_address_space_keeps_cr3(self):
        assert Builder().walk().cr3 == CR3

    def test_cr4_pse_does_not_matter_under_pae(self):
        """PS in a PAE PDE always means 2 MiB: there is no pse switch to turn off."""
        b = Builder()
        b.pde(0, 0x600000 | PRESENT | PS)
        assert b.walk().translate(0x1234).pa == 0x601234

    def test_rights_are_the_and_of_pde_and_pte(self):
        b = Builder()
        b.pte(0x1000, 0x5000 | PRESENT | WRITE | USER, pde_flags=PRESENT | USER)
        b.pte(0x400000, 0x6000 | PRESENT | WRITE | USER, pde_flags=PRESENT | WRITE)
        space = b.walk()
        assert space.translate(0x1000).rights() == "ur-x"
        assert space.translate(0x400000).rights() == "-rwx"

    @pytest.mark.parametrize("where", ["pdpte", "pde", "pte"])
    def test_not_present_at_each_level(self, where):
        b = Builder()
        va = 0x80201000
        b.pte(va, 0x9000 | PRESENT)
        if where == "pdpte":
            b.pdpte(2, PD_BASE + 0x2000)  # P clear
        elif where == "pde":
            b.pde(va, PT_BASE | WRITE | USER)
        else:
            b.pte(va, 0x9000)
        t = b.walk().translate(va)
        assert t.pa is None and not t.reserved and t.rights() == "----" and t.va == va
        assert str(t).splitlines()[-1] == "  -> not mapped"
        assert [e is not None for e in (t.pde, t.pte)] == {
            "pdpte": [False, False], "pde": [True, False], "pte": [True, True]}[where]
        assert list(b.walk().mappings()) == []

    def test_pdpte_built_like_a_legacy_pde_faults(self):
        """R/W and U/S are reserved in a PDPTE: the walker reads nothing below it."""
        b = Builder()
        b.pte(0x1000, 0x5000 | PRESENT)
        b.pdpte(0, PD_BASE | PRESENT | WRITE | USER)
        space = b.walk()
        t = space.translate(0x1000)
        assert t.pa is None and t.reserved and t.pde is None
        assert b.mem.reads == [(CR3, 32)]
        assert "reserved bits set" in str(t)

    def test_reserved_bits_in_a_pte_fault_that_page_only(self):
        b = Builder()
        b.pte(0x1000, 0x5000 | PRESENT | 1 << 40)  # past MAXPHYADDR 36
        b.pte(0x2000, 0x6000 | PRESENT)
        space = b.walk()
        assert space.translate(0x1000).pa is None and space.translate(0x1000).reserved
        assert space.translate(0x2000).pa == 0x6000
        assert [m.va for m in space.mappings()] == [0x2000]
        assert walk_pae(b.mem, CR3, maxphyaddr=52).translate(0x1000).pa == 0x100_0000_5000

    def test_reserved_bits_in_a_pde_fault_the_whole_2_mib(self):
        b = Builder()
        b.pte(0x1000, 0x5000 | PRESENT)
        b.pde(0x200000, 0x400000 | PRESENT | PS | 1 << 13)
        space = b.walk()
        assert space.translate(0x200000).reserved and space.translate(0x200000).pa is None
        assert [m.va for m in space.mappings()] == [0x1000]

    def test_a_pde_with_nx_without_nxe_reads_no_table(self):
        """NX is reserved without EFER.NXE: the walk stops at that PDE."""
        b = Builder()
        b.pte(0x1000, 0x5000 | PRESENT, pde_flags=PRESENT | WRITE | NX)
        space = b.walk(nxe=False)
        assert b.mem.reads == [(CR3, 32), (PD_BASE, 4096)] and space.page_tables() == 0
        assert walk_pae(b.mem, CR3, nxe=True).page_tables() == 1

    @pytest.mark.parametrize("level", ["pdpte", "pde"])
    def test_tables_past_64_gib_with_a_wider_maxphyaddr(self, level):
        """A directory or table at 1 TiB is reachable with MAXPHYADDR 40 and
        past the CPU's width (a reserved bit) with the default 36."""
        b = Builder()
        far = 1 << 40 - 1
        b.pte(0x1000, 0x5000 | PRESENT)
        if level == "pdpte":
            b.mem.pages[far] = b.mem.page(PD_BASE)
            b.pdpte(0, far | PRESENT)
        else:
            b.mem.pages[far] = b.mem.page(PT_BASE)
            b.pde(0x1000, far | PRESENT | WRITE)
        assert walk_pae(b.mem, CR3, maxphyaddr=40).translate(0x1000).pa == 0x5000
        assert walk_pae(b.mem, CR3).translate(0x1000).reserved


class TestNx:
    def build(self):
        b = Builder()
        b.pte(0x1000, 0x5000 | PRESENT | WRITE | NX)                  # NX in the PTE
        b.pte(0x2000, 0x6000 | PRESENT | WRITE)
        b.pte(0x200000, 0x7000 | PRESENT, pde_flags=PRESENT | WRITE | NX)  # NX in the PDE
        b.pde(0x400000, 0x800000 | PRESENT | PS | NX)                  # NX in a 2 MiB PDE
        b.pde(0x600000, 0xA00000 | PRESENT | PS)
        return b

    def test_nx_anywhere_on_the_path_removes_execute(self):
        space = self.build().walk(nxe=True)
        rights = {va: space.translate(va).rights()
                  for va in (0x1000, 0x2000, 0x200000, 0x400000, 0x600000)}
        assert rights == {0x1000: "-rw-", 0x2000: "-rwx", 0x200000: "-r--",
                          0x400000: "-r--", 0x600000: "-r-x"}
        assert {m.va: m.execute for m in space.mappings()} == {
            0x1000: False, 0x2000: True, 0x200000: False, 0x400000: False, 0x600000: True}

    def test_nx_without_nxe_is_a_reserved_bit(self):
        space = self.build().walk(nxe=False)
        assert [m.va for m in space.mappings()] == [0x2000, 0x600000]
        assert space.translate(0x200000).reserved and space.translate(0x1000).reserved

    def test_nx_in_the_pdpte_is_reserved_even_with_nxe(self):
        b = Builder()
        b.pte(0x1000, 0x5000 | PRESENT)
        b.pdpte(0, PD_BASE | PRESENT | NX)
        t = b.walk(nxe=True).translate(0x1000)
        assert t.pa is None and t.reserved

    def test_regions_split_on_execute_and_info_mem_runs_do_not(self):
        space = self.build().walk(nxe=True)
        assert space.regions() == [
            Region(0x1000, 0x2000, False, True, execute=False),
            Region(0x2000, 0x3000, False, True, execute=True),
            Region(0x200000, 0x201000, False, False, execute=False),
            Region(0x400000, 0x600000, False, False, execute=False),
            Region(0x600000, 0x800000, False, False, execute=True)]
        assert user_write_runs(space.regions()) == [
            (0x1000, 0x3000, False, True), (0x200000, 0x201000, False, False),
            (0x400000, 0x800000, False, False)]
        assert paging.format_regions(space.regions()[:2], execute=True).splitlines() == [
            "     start         end        size  rights",
            "0x00001000  0x00002000       4 KiB  -rw-",
            "0x00002000  0x00003000       4 KiB  -rwx"]


class TestMappings:
    def test_every_level_and_the_4_gib_end(self):
        b = Builder()
        b.pte(0xFFFFF000, 0xF_FFFF_F000 | PRESENT | GLOBAL | WRITE)
        b.pde(0x40000000, 0x1_0000_0000 | PRESENT | PS | USER | WRITE)
        space = b.walk()
        ms = list(space.mappings())
        assert [(m.va, m.pa, m.size, m.pte is None) for m in ms] == [
            (0x40000000, 0x1_0000_0000, 2 * MiB, True),
            (0xFFFFF000, 0xF_FFFF_F000, 4096, False)]
        assert space.regions(split_global=True) == [
            Region(0x40000000, 0x40200000, True, True),
            Region(0xFFFFF000, 1 << 32, False, True, global_=True)]
        assert [m.va for m in space.mappings(0x40100000, 0xFFFFF000)] == [0x40000000]
        assert space.page_tables() == 1
        assert [(m.pdpte, m.pde, m.pte) for m in ms] == [
            (PD_BASE + 0x1000 | PRESENT, 0x1_0000_0000 | PRESENT | PS | USER | WRITE, None),
            (PD_BASE + 0x3000 | PRESENT, PT_BASE | PRESENT | WRITE | USER,
             0xF_FFFF_F000 | PRESENT | GLOBAL | WRITE)]
        assert space.regions() == [Region(0x40000000, 0x40200000, True, True),
                                   Region(0xFFFFF000, 1 << 32, False, True)]

    def test_range_bounds_for_2_mib_pages(self):
        """[start, end) is half-open: a 2 MiB page ending at start or starting
        at end is outside, and pages on both sides of the range are skipped."""
        b = Builder()
        for va in (0x0, 0x200000, 0x400000, 0x40000000):
            b.pde(va, va | PRESENT | PS)
        space = b.walk()
        assert [m.va for m in space.mappings(0x200000, 0x400000)] == [0x200000]
        assert [m.va for m in space.mappings(0x1FFFFF, 0x400001)] == [0x0, 0x200000, 0x400000]
        assert [m.va for m in space.mappings(0x400000)] == [0x400000, 0x40000000]

    def test_flags_and_leaf_are_the_mapping_entrys_own(self):
        b = Builder()
        b.pte(0x3000, 0x8000 | PRESENT | ACCESSED | DIRTY | NX, pde_flags=PRESENT | WRITE)
        (m,) = b.walk(nxe=True).mappings()
        assert m.flags == PRESENT | ACCESSED | DIRTY and m.leaf & NX and not m.write


class TestMode:
    def test_from_registers(self):
        assert modes.PagingMode.from_registers(cr4=0x30, efer=0x800) == modes.PagingMode(
            pae=True, pse=True, nxe=True)
        assert modes.PagingMode.from_registers(cr4=0x10) == modes.PagingMode(pse=True)
        assert modes.PagingMode() == modes.PagingMode(False, False, False, 36)
        assert modes.PagingMode.from_registers(cr4=0x20) == modes.PagingMode(pae=True)
        assert modes.PagingMode.from_registers(0x20, 0x800, maxphyaddr=40).maxphyaddr == 40

    def test_walk_passes_maxphyaddr(self):
        b = Builder()
        b.pte(0x1000, 1 << 39 | PRESENT)
        mode = modes.PagingMode(pae=True, maxphyaddr=40)
        assert modes.walk(b.mem, CR3, mode).translate(0x1000).pa == 1 << 39
        assert modes.walk(b.mem, CR3, modes.PagingMode(pae=True)).translate(0x1000).pa is None

    def test_walk_picks_the_walker(self):
        b = Builder()
        b.pte(0x1000, 0x5000 | PRESENT | NX)
        space = modes.walk(b.mem, CR3, modes.PagingMode(pae=True, nxe=True))
        assert isinstance(space, pae.PaeAddressSpace) and space.translate(0x1000).pa == 0x5000
        legacy = FakeMemory()
        struct.pack_into("<I", legacy.page(0x2000), 0, 0x400000 | PRESENT | PS)
        space = modes.walk(legacy, 0x2000, modes.PagingMode(pse=True))
        assert isinstance(space, paging.AddressSpace) and space.translate(0x1234).pa == 0x401234
        space = modes.walk(legacy, 0x2000)  # the default is legacy without PSE
        assert isinstance(space, paging.AddressSpace) and space.translate(0x1234).pa is None


PAGES = st.dictionaries(
    st.integers(0, (1 << 20) - 1).map(lambda n: n << 12),              # va
    st.tuples(st.integers(0, (1 << 24) - 1).map(lambda n: n << 12),    # pa below 64 GiB
              st.sampled_from([0, WRITE, USER, WRITE | USER]), st.booleans()),
    max_size=20)


@given(PAGES, st.booleans())
def test_built_pages_round_trip(pages, nxe):
    """Every 4 KiB page put in the tables comes back from translate and
    mappings with its frame and rights (NX only counts with NXE, else the
    page faults on the reserved bit)."""
    b = Builder()
    for va, (pa, flags, nx) in pages.items():
        b.pte(va, pa | PRESENT | flags | (NX if nx else 0))
    space = b.walk(nxe=nxe)
    expected = {va: (pa, bool(flags & USER), bool(flags & WRITE), not nx)
                for va, (pa, flags, nx) in pages.items() if nxe or not nx}
    got = {m.va: (m.pa, m.user, m.write, m.execute) for m in space.mappings()}
    assert got == expected
    for va, (pa, _flags, nx) in pages.items():
        t = space.translate(va | 0x123)
        assert t.pa == (pa | 0x123 if va in expected else None)
        assert t.reserved == (nx and not nxe)


RIGHTS_PAGES = st.dictionaries(
    st.integers(0, 5 * 512 - 1).map(lambda n: n << 12),   # 10 MiB: several tables, runs
    st.tuples(st.sampled_from([0, WRITE, USER, WRITE | USER]), st.booleans(), st.booleans(),
              st.sampled_from([0, 1 << 40])),              # global, NX, a reserved bit
    max_size=60)
PDE_LIMITS = st.lists(st.sampled_from([PRESENT, PRESENT | WRITE, PRESENT | USER,
                                       PRESENT | WRITE | USER, PRESENT | USER | NX]),
                      min_size=5, max_size=5)


@given(RIGHTS_PAGES, PDE_LIMITS, st.booleans(), st.booleans(), st.booleans())
def test_regions_are_the_mappings_merged(pages, pde_flags, nxe, split_global, large):
    """regions() groups whole tables at once: it must say what merging
    mappings() page by page says, whatever the PDE limits, NX, global and
    reserved bits (and with a 2 MiB page among the tables)."""
    b = Builder()
    for slot, flags in enumerate(pde_flags):
        b.table(slot << 21, flags)
    for va, (flags, glob, nx, bad) in pages.items():
        b.pte(va, 0x7000 | PRESENT | flags | (GLOBAL if glob else 0) | (NX if nx else 0) | bad)
    if large:
        b.pde(5 << 21, 0x1_0000_0000 | PRESENT | PS | USER | NX)
    space = b.walk(nxe=nxe)
    expected: list[Region] = []
    for m in space.mappings():
        glob = split_global and bool(m.leaf & GLOBAL)
        paging._append(expected, Region(m.va, m.va + m.size, m.user, m.write, glob, m.execute))
    assert space.regions(split_global=split_global) == expected


class TestDump:
    """mm pt's PAE rows (harness/decode/pae_dump.py) on built tables."""

    HEADER = ("       idx  virtual     entry               points to    PWUTCADSGN  rights")

    def build(self):
        b = Builder()
        b.pte(0x1000, 0x9_1234_5000 | PRESENT | WRITE | USER | NX)
        b.pte(0x3000, 0x5000 | PRESENT | USER | PWT | PCD | ACCESSED | DIRTY)
        b.pde(0x200000, 0x1_0000_0000 | PRESENT | PS | WRITE | NX)
        b.pte(0xC0000000, 0x100000 | PRESENT | GLOBAL)
        return b

    def test_whole_space_with_nxe(self):
        assert pae_dump.dump(self.build().walk(nxe=True), 0, 1 << 32) == [
            self.HEADER,
            "PDPTE    0  0x00000000  0x0000000000010001  0x000010000  P---------          "
            "page directory",
            " PDE     0  0x00000000  0x0000000000020007  0x000020000  PWU-------          "
            "page table",
            "  PTE    1  0x00001000  0x8000000912345007  0x912345000  PWU------N  urw-",
            "  PTE    3  0x00003000  0x000000000000507d  0x000005000  P-UTCAD---  ur-x",
            "  (510 not-present PTEs skipped)",
            " PDE     1  0x00200000  0x8000000100000083  0x100000000  PW-----S-N  -rw-    "
            "2 MiB page",
            "PDPTE    3  0xc0000000  0x0000000000013001  0x000013000  P---------          "
            "page directory",
            " PDE     0  0xc0000000  0x0000000000021007  0x000021000  PWU-------          "
            "page table",
            "  PTE    0  0xc0000000  0x0000000000100101  0x000100000  P-------G-  -r-x",
            "  (511 not-present PTEs skipped)",
            "present: 2 PDPTEs, 3 PDEs (1 2 MiB pages, 2 page tables), 3 PTEs; "
            "not present, skipped: 2 PDPTEs, 1021 PDEs, 1021 PTEs"]

    def test_range_and_reserved_bits_without_nxe(self):
        """NX without EFER.NXE is a reserved bit: the entry is shown, marked,
        with no rights; the range keeps only what overlaps [start, end)."""
        assert pae_dump.dump(self.build().walk(nxe=False), 0x1000, 0x200001)[1:] == [
            "PDPTE    0  0x00000000  0x0000000000010001  0x000010000  P---------          "
            "page directory",
            " PDE     0  0x00000000  0x0000000000020007  0x000020000  PWU-------          "
            "page table",
            "  PTE    1  0x00001000  0x8000000912345007  0x912345000  PWU------N  ----    "
            "reserved bits set: the CPU faults here",
            "  PTE    3  0x00003000  0x000000000000507d  0x000005000  P-UTCAD---  ur-x",
            "  (509 not-present PTEs skipped)",
            " PDE     1  0x00200000  0x8000000100000083  0x100000000  PW-----S-N  ----    "
            "reserved bits set: the CPU faults here (2 MiB page)",
            "present: 1 PDPTEs, 2 PDEs (1 2 MiB pages, 1 page tables), 2 PTEs; "
            "not present, skipped: 0 PDPTEs, 0 PDEs, 509 PTEs"]

    def test_one_page_at_the_top_and_a_single_skipped_pte(self):
        b = Builder()
        b.pte(0xFFFFE000, 0x7000 | PRESENT)
        space = b.walk()
        assert pae_dump.dump(space, 0xFFFFE000, 0xFFFFF000)[1:] == [
            "PDPTE    3  0xc0000000  0x0000000000013001  0x000013000  P---------          "
            "page directory",
            " PDE   511  0xffe00000  0x0000000000020007  0x000020000  PWU-------          "
            "page table",
            "  PTE  510  0xffffe000  0x0000000000007001  0x000007000  P---------  -r-x",
            "present: 1 PDPTEs, 1 PDEs (0 2 MiB pages, 1 page tables), 1 PTEs; "
            "not present, skipped: 0 PDPTEs, 0 PDEs, 0 PTEs"]
        assert pae_dump.dump(space, 0xFFFFE000, 1 << 32)[-2:] == [
            "  (1 not-present PTE skipped)",
            "present: 1 PDPTEs, 1 PDEs (0 2 MiB pages, 1 page tables), 1 PTEs; "
            "not present, skipped: 0 PDPTEs, 0 PDEs, 1 PTEs"]

    def test_reserved_entries_stop_the_dump_below_them(self):
        """A PDPTE built like a legacy PDE (R/W, U/S are reserved) and a PDE
        past MAXPHYADDR: each is shown and marked, nothing below is read."""
        b = Builder()
        b.pte(0x1000, 0x5000 | PRESENT)
        b.pte(0x40000000, 0x6000 | PRESENT)
        b.pdpte(0, PD_BASE | PRESENT | WRITE | USER)
        b.pde(0x40000000, 1 << 40 | PRESENT | WRITE)
        b.pte(0x40200000, 0x7000 | PRESENT)
        assert pae_dump.dump(b.walk(), 0, 0x40201000)[1:] == [
            "PDPTE    0  0x00000000  0x0000000000010007  0x000010000  PWU-------          "
            "reserved bits set: the CPU faults here (page directory)",
            "PDPTE    1  0x40000000  0x0000000000011001  0x000011000  P---------          "
            "page directory",
            " PDE     0  0x40000000  0x0000010000000003  0x000000000  PW--------          "
            "reserved bits set: the CPU faults here (page table)",
            " PDE     1  0x40200000  0x0000000000022007  0x000022000  PWU-------          "
            "page table",
            "  PTE    0  0x40200000  0x0000000000007001  0x000007000  P---------  -r-x",
            "present: 2 PDPTEs, 2 PDEs (0 2 MiB pages, 2 page tables), 1 PTEs; "
            "not present, skipped: 0 PDPTEs, 0 PDEs, 0 PTEs"]

    def test_a_range_of_one_byte_past_a_boundary(self):
        """END is excluded but any byte: [0x40001000, 0x40001001) is one PTE
        in PDPTE 1 (a range ending one byte into a page or slot still takes it)."""
        b = Builder()
        b.pte(0x40001000, 0x7000 | PRESENT)
        b.pte(0x40000000, 0x8000 | PRESENT)
        assert [line.split()[:2] for line in pae_dump.dump(b.walk(), 0x40001000, 0x40001001)[1:-1]
                ] == [["PDPTE", "1"], ["PDE", "0"], ["PTE", "1"]]
        assert [line.split()[:2] for line in pae_dump.dump(b.walk(), 0x3FFFF000, 0x40000001)[1:-1]
                ] == [["PDPTE", "1"], ["PDE", "0"], ["PTE", "0"]]

    def test_a_range_across_pdptes_shows_each_directory_to_its_end(self):
        b = Builder()
        for va in (0x3FC00000, 0x3FE00000, 0x40000000):
            b.pde(va, va | PRESENT | PS | USER)
        b.pte(0x40200000, 0x7000 | PRESENT)
        b.pte(0x40203000, 0x8000 | PRESENT)
        rows = pae_dump.dump(b.walk(), 0x3FC00000, 0x40204000)
        assert [line.split()[:3] for line in rows[1:-2]] == [
            ["PDPTE", "0", "0x00000000"], ["PDE", "510", "0x3fc00000"],
            ["PDE", "511", "0x3fe00000"], ["PDPTE", "1", "0x40000000"],
            ["PDE", "0", "0x40000000"], ["PDE", "1", "0x40200000"],
            ["PTE", "0", "0x40200000"], ["PTE", "3", "0x40203000"]]
        assert rows[-2:] == [
            "  (2 not-present PTEs skipped)",
            "present: 2 PDPTEs, 4 PDEs (3 2 MiB pages, 1 page tables), 2 PTEs; "
            "not present, skipped: 0 PDPTEs, 0 PDEs, 2 PTEs"]

    def test_pde_and_pte_accessors(self):
        space = self.build().walk(nxe=True)
        assert space.pde(0, 1).raw == 0x8000000100000083 and space.pde(0, 1).level == 2
        assert space.pte(0, 3).raw == 0x507D and space.pte(0, 3).level == 1
        assert space.pte(3 << 9, 0).frame == 0x100000


def test_protnone_pages_are_the_not_present_entries_with_bit_8():
    """A kept PROT_NONE page (vmm.h's PAGE_PROTNONE): not in mappings(), in
    protnone_pages() with its frame, past 4 GiB too."""
    b = Builder()
    b.pte(0x1000, 0x5000 | PRESENT | USER | OWNED)
    b.pte(0x2000, 0x2_0000_6000 | PROTNONE | USER | OWNED | COW)
    b.pte(0x3000, 0x7000 | USER | OWNED)  # not present, no marker: nothing
    space = b.walk()
    assert [m.va for m in space.mappings()] == [0x1000]
    ((m),) = space.protnone_pages()
    assert (m.va, m.pa, m.pte) == (0x2000, 0x2_0000_6000, 0x2_0000_6000 | 0xB04)
    assert list(space.protnone_pages(0x3000)) == []
