"""The page-table walker on synthetic page tables (no QEMU)."""

import itertools
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.decode import paging
from harness.decode.paging import (
    ACCESSED,
    DIRTY,
    GLOBAL,
    PCD,
    PRESENT,
    PROTNONE,
    PS,
    PWT,
    USER,
    WRITE,
    Entry,
    Mapping,
    Region,
    Translation,
    walk,
)


class FakeMemory:
    """Physical memory as a dict of 4 KiB pages, counting the reads."""

    def __init__(self):
        self.pages: dict[int, bytearray] = {}
        self.reads = 0

    def page(self, addr):
        return self.pages.setdefault(addr & ~0xFFF, bytearray(4096))

    def set_u32(self, addr, value):
        struct.pack_into("<I", self.page(addr), addr & 0xFFF, value)

    def read_phys(self, addr, size):
        self.reads += 1
        assert addr % 4096 == 0 and size == 4096, "whole tables only"
        return bytes(self.page(addr))


CR3 = 0x1000


def space(mappings, *, pse=False, large=()):
    """Build tables: mappings is [(va, pa, flags)], large is [(va, pa, flags)] 4 MiB."""
    mem = FakeMemory()
    next_table = [0x100000]
    tables = {}
    for va, pa, flags in mappings:
        i = paging.pdx(va)
        if i not in tables:
            tables[i] = next_table[0]
            next_table[0] += 0x1000
            mem.set_u32(CR3 + i * 4, tables[i] | PRESENT | WRITE | USER)
        mem.set_u32(tables[i] + paging.ptx(va) * 4, pa | flags)
    for va, pa, flags in large:
        mem.set_u32(CR3 + paging.pdx(va) * 4, pa | flags | PS)
    return mem, walk(mem, CR3, pse=pse)


class TestEntry:
    def test_flags(self):
        e = Entry(0x00123000 | PRESENT | WRITE | ACCESSED | DIRTY, 1)
        assert e.present and e.write and not e.user and e.accessed and e.dirty
        assert e.frame == 0x123000 and not e.large
        assert str(e) == "PTE 0x00123063 -> 0x00123000 [PWAD]"

    def test_large_pde(self):
        e = Entry(0x00800000 | PRESENT | PS | GLOBAL, 2)
        assert e.large and e.maps_page and e.global_ and e.frame == 0x00800000
        assert not e.reserved_bits_set
        assert Entry(0x00800000 | PRESENT | PS | 1 << 21, 2).reserved_bits_set

    def test_pde_pointing_to_table_has_no_dirty_or_global(self):
        e = Entry(0x5000 | PRESENT | DIRTY | GLOBAL, 2)
        assert not e.dirty and not e.global_ and e.frame == 0x5000


class TestEntryBits:
    """Every flag of an entry decoded on its own, and the frame masks at
    their edges (4 KiB: bits 31:12; 4 MiB: bits 31:22, with 21:13 reserved)."""

    FLAGS = {"present": PRESENT, "write": WRITE, "user": USER, "pwt": PWT, "pcd": PCD,
             "accessed": ACCESSED, "dirty": DIRTY, "global_": GLOBAL}

    def test_the_flag_bits_are_the_sdms(self):
        assert (PRESENT, WRITE, USER, PWT, PCD, ACCESSED, DIRTY, PS, GLOBAL) == (
            1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8)

    @pytest.mark.parametrize("flag", sorted(FLAGS))
    def test_each_pte_flag_alone(self, flag):
        e = Entry(0x00123000 | self.FLAGS[flag], 1)
        assert {f: getattr(e, f) for f in self.FLAGS} == {f: f == flag for f in self.FLAGS}
        assert e.frame == 0x00123000 and not e.large and e.maps_page

    @pytest.mark.parametrize("flag,letter", [(PRESENT, "P"), (WRITE, "W"), (USER, "U"),
                                             (PWT, "T"), (PCD, "C"), (ACCESSED, "A"),
                                             (DIRTY, "D"), (PS, "S"), (GLOBAL, "G")])
    def test_flag_string_letter_of_each_bit(self, flag, letter):
        assert paging.flag_string(flag) == letter
        assert paging.flag_string(0xFFFFF000 | flag) == letter  # frame bits are no flags

    def test_flag_string_order_and_none(self):
        assert paging.flag_string(0x1FF) == "PWUTCADSG"
        assert paging.flag_string(0) == "-"
        assert paging.flag_string(0xE00) == "-"  # the available bits 11:9

    def test_avail_bits(self):
        assert Entry(0xE00, 1).avail == 7 and Entry(0x200, 1).avail == 1
        assert Entry(0x1FF | 0xFFFFF000, 1).avail == 0

    def test_frame_of_a_pte_keeps_bits_31_to_12(self):
        assert Entry(0xFFFFFFFF, 1).frame == 0xFFFFF000
        assert Entry(0x80000FFF, 1).frame == 0x80000000  # bit 31
        assert Entry(0x00001FFF, 1).frame == 0x00001000  # bit 12

    def test_ps_in_a_pte_is_pat_not_a_large_page(self):
        e = Entry(0x00123000 | PRESENT | PS, 1)
        assert not e.large and e.frame == 0x00123000 and not e.reserved_bits_set

    def test_large_frame_keeps_bits_31_to_22(self):
        e = Entry(0xFFC00000 | PRESENT | PS | DIRTY | GLOBAL, 2)
        assert e.large and e.maps_page and e.frame == 0xFFC00000
        assert e.dirty and e.global_
        assert Entry(0x00400000 | PS, 2).frame == 0x00400000  # bit 22
        assert Entry(0x00200000 | PS, 2).frame == 0  # bit 21 is not a frame bit

    @pytest.mark.parametrize("bit,reserved", [(12, False), (13, True), (17, True), (21, True),
                                              (22, False), (31, False)])
    def test_large_reserved_bits_are_21_to_13(self, bit, reserved):
        assert Entry(PRESENT | PS | 1 << bit, 2).reserved_bits_set is reserved
        assert not Entry(PRESENT | 1 << bit, 2).reserved_bits_set  # only a 4 MiB PDE
        assert not Entry(PRESENT | PS | 1 << bit, 1).reserved_bits_set

    def test_pde_to_a_table_maps_no_page_and_frames_at_4k(self):
        e = Entry(0x00345000 | PRESENT | WRITE | USER | ACCESSED | PWT | PCD, 2)
        assert not e.large and not e.maps_page and e.frame == 0x00345000
        assert e.pwt and e.pcd and e.accessed and not e.dirty and not e.global_

    def test_str(self):
        assert str(Entry(0x00345067, 2)) == "PDE 0x00345067 -> 0x00345000 [PWUAD]"
        assert str(Entry(0x00C00083, 2)) == "PDE 0x00c00083 -> 0x00c00000 [PWS]"
        assert str(Entry(0x80000105, 1)) == "PTE 0x80000105 -> 0x80000000 [PUG]"
        assert str(Entry(0, 1)) == "PTE 0x00000000 -> 0x00000000 [-]"


class TestWalk:
    def test_reads_each_table_once(self):
        mem, aspace = space([(0x1000, 0x5000, PRESENT), (0x2000, 0x6000, PRESENT),
                             (0xC0000000, 0x7000, PRESENT)])
        assert mem.reads == 3  # the directory and two tables
        assert aspace.page_tables() == 2

    def test_translate_present_and_absent(self):
        _, aspace = space([(0x00401000, 0x00abc000, PRESENT | WRITE | USER)])
        t = aspace.translate(0x00401234)
        assert t.pa == 0x00abc234 and t.user and t.write
        assert t.execute, "no NX in legacy paging: a mapped page executes"
        assert aspace.translate(0x00402000).pa is None
        assert not aspace.translate(0x00402000).execute, "nothing runs where nothing is mapped"
        far = aspace.translate(0x80000000)
        assert far.pa is None and not far.pde.present
        assert "PDX 1 PTX 1" in str(t)

    def test_large_pages_only_with_pse(self):
        _, with_pse = space([], pse=True, large=[(0x00800000, 0x01000000, PRESENT | WRITE)])
        assert with_pse.translate(0x00812345).pa == 0x01012345
        assert [m.size for m in with_pse.mappings()] == [4 << 20]

    def test_mappings_in_order_with_effective_rights(self):
        _mem, aspace = space([(0x3000, 0x9000, PRESENT | USER), (0x1000, 0x8000, PRESENT | WRITE)])
        maps = list(aspace.mappings())
        assert [(m.va, m.pa) for m in maps] == [(0x1000, 0x8000), (0x3000, 0x9000)]
        assert maps[1].user and not maps[1].write


class TestTranslate:
    def test_a_4k_page_gives_both_entries(self):
        _, aspace = space([(0x00401000, 0x00ABC000, PRESENT | WRITE | USER | ACCESSED)])
        t = aspace.translate(0x00401FFF)
        assert t == Translation(0x00401FFF, Entry(0x00100000 | PRESENT | WRITE | USER, 2),
                                Entry(0x00ABC000 | PRESENT | WRITE | USER | ACCESSED, 1),
                                0x00ABCFFF)

    def test_a_pte_not_present_gives_no_address_but_the_pte(self):
        _, aspace = space([(0x00401000, 0x00ABC000, WRITE)])
        assert aspace.translate(0x00401010) == Translation(
            0x00401010, Entry(0x00100000 | PRESENT | WRITE | USER, 2), Entry(0x00ABC002, 1), None)

    def test_a_pde_not_present_gives_no_pte(self):
        _, aspace = space([])
        assert aspace.translate(0xC0000123) == Translation(0xC0000123, Entry(0, 2), None, None)

    def test_frames_above_2_gib(self):
        """Bit 31 of an entry: an unsigned read, both for a PTE and a 4 MiB PDE."""
        _, aspace = space([(0x1000, 0xFFFFF000, PRESENT)])
        t = aspace.translate(0x1ABC)
        assert t.pa == 0xFFFFFABC and t.pte.raw == 0xFFFFF001
        _, large = space([], pse=True, large=[(0x00400000, 0x80000000, PRESENT)])
        assert large.translate(0x007FFFFF).pa == 0x803FFFFF
        assert large.translate(0x00400000).pde == Entry(0x80000000 | PRESENT | PS, 2)

    def test_pat_bit_of_a_pte_does_not_make_it_large(self):
        _, aspace = space([(0x1000, 0x00ABC000, PRESENT | PS)])
        t = aspace.translate(0x1234)
        assert t.pa == 0x00ABC234 and t.pte == Entry(0x00ABC000 | PRESENT | PS, 1)

    def test_a_4m_page_with_pse(self):
        _, aspace = space([], pse=True, large=[(0x00800000, 0x01000000, PRESENT | WRITE)])
        t = aspace.translate(0x00BFFFFF)
        assert t == Translation(0x00BFFFFF, Entry(0x01000000 | PRESENT | WRITE | PS, 2), None,
                                0x013FFFFF)
        assert t.pde.large and t.write and not t.user

    def test_ps_without_pse_is_ignored(self):
        """CR4.PSE clear: the CPU ignores PS and walks a page table at the frame."""
        mem, _ = space([])
        mem.set_u32(CR3, 0x00005000 | PRESENT | WRITE | PS)
        mem.set_u32(0x00005000 + 4, 0x00777000 | PRESENT)
        aspace = walk(mem, CR3)
        t = aspace.translate(0x1234)
        assert t == Translation(0x1234, Entry(0x00005000 | PRESENT | WRITE, 2),
                                Entry(0x00777000 | PRESENT, 1), 0x00777234)
        assert [(m.va, m.pa, m.size) for m in aspace.mappings()] == [(0x1000, 0x00777000, 4096)]
        assert aspace.regions() == [Region(0x1000, 0x2000, False, False)]

    def test_pse_without_ps_still_walks_tables(self):
        _, aspace = space([(0x1000, 0x00777000, PRESENT)], pse=True)
        assert aspace.translate(0x1234).pa == 0x00777234
        assert [(m.va, m.size) for m in aspace.mappings()] == [(0x1000, 4096)]
        assert aspace.regions() == [Region(0x1000, 0x2000, False, False)]

    def test_effective_rights_need_both_levels(self):
        mem, _ = space([(0x1000, 0x5000, PRESENT | WRITE | USER)])
        mem.set_u32(CR3, 0x00100000 | PRESENT)  # the PDE: read-only, supervisor
        t = walk(mem, CR3).translate(0x1000)
        assert (t.pte.user, t.pte.write, t.user, t.write) == (True, True, False, False)
        _, aspace = space([(0x1000, 0x5000, PRESENT)])  # the PDE allows everything
        t = aspace.translate(0x1000)
        assert (t.pde.user, t.pde.write, t.user, t.write) == (True, True, False, False)

    def test_str(self):
        _, aspace = space([(0xC0101000, 0x00101000, PRESENT | WRITE)])
        assert str(aspace.translate(0xC0101ABC)) == (
            "va 0xc0101abc: PDX 768 PTX 257 offset 0xabc\n"
            "  PDE 0x00100007 -> 0x00100000 [PWU]\n"
            "  PTE 0x00101003 -> 0x00101000 [PW]\n"
            "  -> 0x00101abc")
        assert str(aspace.translate(0xC0102000)) == (
            "va 0xc0102000: PDX 768 PTX 258 offset 0x0\n"
            "  PDE 0x00100007 -> 0x00100000 [PWU]\n"
            "  PTE 0x00000000 -> 0x00000000 [-]\n"
            "  -> not mapped")
        assert str(aspace.translate(0x00001FFF)) == (
            "va 0x00001fff: PDX 0 PTX 1 offset 0xfff\n"
            "  PDE 0x00000000 -> 0x00000000 [-]\n"
            "  -> not mapped")


class TestAddressSpace:
    def test_keeps_what_it_read(self):
        mem, aspace = space([(0x1000, 0x5000, PRESENT)], pse=True)
        assert aspace.cr3 == CR3 and aspace.pse
        assert aspace.directory == bytes(mem.page(CR3))
        assert aspace.tables == {0: bytes(mem.page(0x00100000))}

    def test_cr3_low_bits_are_not_part_of_the_address(self):
        mem, _ = space([(0x1000, 0x5000, PRESENT)])
        aspace = walk(mem, CR3 | PWT | PCD)
        assert aspace.cr3 == CR3 | PWT | PCD and aspace.translate(0x1000).pa == 0x5000

    def test_pde(self):
        _, aspace = space([(0x00400000, 0x5000, PRESENT)])
        assert aspace.pde(1) == Entry(0x00100000 | PRESENT | WRITE | USER, 2)
        assert aspace.pde(0) == Entry(0, 2)
        assert str(aspace.pde(1)).startswith("PDE ")

    def test_walk_defaults_to_no_pse(self):
        mem, _ = space([], large=[(0x00400000, 0x00800000, PRESENT)])
        mem.set_u32(0x00800000 + 4, 0x00999000 | PRESENT)  # read as a page table
        aspace = walk(mem, CR3)
        assert not aspace.pse and aspace.translate(0x00401000).pa == 0x00999000
        assert 1 in aspace.tables


class TestMappings:
    def test_fields_of_4k_and_4m_mappings(self):
        _, aspace = space([(0x1000, 0xFFFFF000, PRESENT | USER | DIRTY)], pse=True,
                          large=[(0x00400000, 0xFFC00000, PRESENT | WRITE | GLOBAL)])
        small, large = aspace.mappings()
        assert small == Mapping(0x1000, 0xFFFFF000, 4096, 0x00100000 | PRESENT | WRITE | USER,
                                0xFFFFF000 | PRESENT | USER | DIRTY)
        assert large == Mapping(0x00400000, 0xFFC00000, 4 << 20,
                                0xFFC00000 | PRESENT | WRITE | GLOBAL | PS, None)
        assert (small.flags, small.user, small.write) == (PRESENT | USER | DIRTY, True, False)
        assert (large.flags, large.user, large.write) == (PRESENT | WRITE | GLOBAL | PS,
                                                          False, True)

    def test_large_frame_drops_the_low_bits(self):
        _, aspace = space([], pse=True, large=[(0x00400000, 0x00800000, PRESENT | 1 << 12)])
        assert next(aspace.mappings()).pa == 0x00800000

    def test_holes_between_tables_and_after_large_pages(self):
        """A PDE not present, a 4 MiB page and an empty table are all skipped
        over, not the end of the walk."""
        mem, aspace = space([(0x1000, 0x5000, PRESENT), (0x00C01000, 0x6000, PRESENT),
                             (0xFFFFF000, 0x7000, PRESENT)], pse=True,
                            large=[(0x00800000, 0x00800000, PRESENT)])
        empty = 0x00200000
        mem.set_u32(CR3 + 4, empty | PRESENT)  # PDE 1: a table with no page in it
        aspace = walk(mem, CR3, pse=True)
        assert [(m.va, m.size) for m in aspace.mappings()] == [
            (0x1000, 4096), (0x00800000, 4 << 20), (0x00C01000, 4096), (0xFFFFF000, 4096)]

    def test_range_is_half_open(self):
        pages = [(va, va, PRESENT) for va in (0x1000, 0x2000, 0x3FF000, 0x400000, 0x401000)]
        _, aspace = space(pages)
        assert [m.va for m in aspace.mappings(0x2000, 0x401000)] == [0x2000, 0x3FF000, 0x400000]
        assert [m.va for m in aspace.mappings(0x1001, 0x2000)] == []
        # an end just past a table's first page still includes that page
        assert [m.va for m in aspace.mappings(0x3FF000, 0x400001)] == [0x3FF000, 0x400000]

    def test_range_leaves_out_large_pages_before_start(self):
        _, aspace = space([(0x00C00000, 0x5000, PRESENT)], pse=True,
                          large=[(0x00400000, 0x00400000, PRESENT)])
        assert [m.va for m in aspace.mappings(0x00800000)] == [0x00C00000]
        assert [m.va for m in aspace.mappings(0x00400000, 0x00800000)] == [0x00400000]


class TestRegions:
    def test_merges_contiguous_pages_with_equal_rights(self):
        pages = [(0x1000 + i * 0x1000, 0x100000 + i * 0x3000, PRESENT | WRITE) for i in range(5)]
        pages.append((0x6000, 0x200000, PRESENT))  # read-only: a new region
        pages.append((0x8000, 0x201000, PRESENT))  # a gap: a new region
        _, aspace = space(pages)
        assert aspace.regions() == [Region(0x1000, 0x6000, False, True),
                                    Region(0x6000, 0x7000, False, False),
                                    Region(0x8000, 0x9000, False, False)]

    def test_regions_cross_page_table_boundaries(self):
        _, aspace = space([(0x3FF000, 0x1000, PRESENT), (0x400000, 0x2000, PRESENT)])
        assert aspace.regions() == [Region(0x3FF000, 0x401000, False, False)]

    def test_pde_rights_limit_pte_rights(self):
        mem, _ = space([(0x1000, 0x5000, PRESENT | WRITE | USER)])
        pde_addr = CR3 + 0
        mem.set_u32(pde_addr, (struct.unpack_from("<I", mem.page(CR3), 0)[0]) & ~USER)
        assert walk(mem, CR3).regions() == [Region(0x1000, 0x2000, False, True)]

    def test_global_split_on_request(self):
        _, aspace = space([(0x1000, 0x5000, PRESENT | GLOBAL), (0x2000, 0x6000, PRESENT)])
        assert aspace.regions() == [Region(0x1000, 0x3000, False, False)]
        assert aspace.regions(split_global=True) == [Region(0x1000, 0x2000, False, False, True),
                                                     Region(0x2000, 0x3000, False, False)]

    def test_merging_across_tables_keeps_every_right(self):
        """Merging happens in _append when a run crosses a table or a 4 MiB page."""
        flags = PRESENT | WRITE | USER | GLOBAL
        _, aspace = space([(0x3FF000, 0x1000, flags), (0x400000, 0x2000, flags)])
        assert aspace.regions(split_global=True) == [
            Region(0x3FF000, 0x401000, True, True, True)]
        _, ro = space([(0x3FF000, 0x1000, PRESENT | USER), (0x400000, 0x2000, PRESENT | USER)])
        assert ro.regions() == [Region(0x3FF000, 0x401000, True, False)]

    def test_large_pages(self):
        _, aspace = space([(0x00C00000, 0x5000, PRESENT | WRITE | USER | GLOBAL)], pse=True,
                          large=[(0x00400000, 0x00400000, PRESENT | USER | GLOBAL),
                                 (0x00800000, 0x00800000, PRESENT | WRITE | GLOBAL)])
        assert aspace.regions() == [Region(0x00400000, 0x00800000, True, False),
                                    Region(0x00800000, 0x00C00000, False, True),
                                    Region(0x00C00000, 0x00C01000, True, True)]
        assert aspace.regions(split_global=True) == [
            Region(0x00400000, 0x00800000, True, False, True),
            Region(0x00800000, 0x00C00000, False, True, True),
            Region(0x00C00000, 0x00C01000, True, True, True)]

    def test_large_pages_split_on_their_own_global_bit(self):
        _, aspace = space([], pse=True, large=[(0x00400000, 0x00400000, PRESENT),
                                               (0x00800000, 0x00800000, PRESENT | GLOBAL)])
        assert aspace.regions(split_global=True) == [
            Region(0x00400000, 0x00800000, False, False, False),
            Region(0x00800000, 0x00C00000, False, False, True)]

    def test_large_pages_merge_with_their_neighbours(self):
        _, aspace = space([(0x00800000, 0x5000, PRESENT | WRITE)], pse=True,
                          large=[(0x00400000, 0x00400000, PRESENT | WRITE)])
        assert aspace.regions() == [Region(0x00400000, 0x00801000, False, True)]
        _, two = space([], pse=True, large=[(0x00400000, 0x00400000, PRESENT | USER),
                                            (0x00800000, 0x00800000, PRESENT | USER)])
        assert two.regions() == [Region(0x00400000, 0x00C00000, True, False)]

    def test_holes_between_tables_and_empty_tables_are_skipped(self):
        mem, _ = space([(0x1000, 0x5000, PRESENT), (0x00C01000, 0x6000, PRESENT | WRITE),
                        (0xC0000000, 0x7000, PRESENT)])
        mem.set_u32(CR3 + 4, 0x00200000 | PRESENT)  # PDE 1: an empty table
        assert walk(mem, CR3).regions() == [Region(0x1000, 0x2000, False, False),
                                           Region(0x00C01000, 0x00C02000, False, True),
                                           Region(0xC0000000, 0xC0001000, False, False)]

    def test_size_and_perms(self):
        assert Region(0x1000, 0x5000, False, False).size == 0x4000
        assert [Region(0, 1, u, w).perms() for u in (False, True) for w in (False, True)] == [
            "-r-", "-rw", "ur-", "urw"]


# A function, not a method: mutmut runs the tests several times in one process,
# and Hypothesis refuses a test method called on different instances.
@given(st.lists(st.tuples(st.integers(0, 3000), st.sampled_from([PRESENT, PRESENT | WRITE,
                                                                  PRESENT | USER, 0])),
                max_size=60, unique_by=lambda t: t[0]))
def test_regions_agree_with_mappings(pages):
    """Every mapped page lies in exactly one region with its rights, and
    regions cover nothing else."""
    _, aspace = space([(p << 12, 0x800000 + (p << 12), f) for p, f in pages])
    regions = aspace.regions()
    covered = {va for r in regions for va in range(r.start, r.end, 4096)}
    maps = {m.va: m for m in aspace.mappings()}
    assert covered == set(maps)
    for r in regions:
        for va in range(r.start, r.end, 4096):
            assert (maps[va].user, maps[va].write) == (r.user, r.write)
    for a, b in itertools.pairwise(regions):
        assert a.end < b.start or (a.user, a.write) != (b.user, b.write)


@pytest.mark.parametrize("n,text", [
    (0, "0 KiB"), (4096, "4 KiB"), ((1 << 20) - 4096, "1020 KiB"), (1 << 20, "1 MiB"),
    ((1 << 20) + 4096, "1028 KiB"), (2 << 20, "2 MiB"), (3 << 20, "3 MiB"),
    ((3 << 20) + (1 << 19), "3584 KiB"), (1 << 32, "4096 MiB"),
])
def test_size_text_whole_mib_else_kib(n, text):
    assert paging.size_text(n) == text


def test_format_regions_exactly():
    text = paging.format_regions([Region(0x1000, 0x3000, True, True),
                                  Region(0xC0000000, 0xC0400000, False, False, True)])
    assert text.splitlines() == [
        "     start         end        size  rights",
        "0x00001000  0x00003000       8 KiB  urw",
        "0xc0000000  0xc0400000       4 MiB  -r-  global",
    ]
    assert paging.format_regions([]) == "     start         end        size  rights"


def test_format_regions():
    text = paging.format_regions([Region(0xC0100000, 0xC0105000, False, False),
                                  Region(0xC0200000, 0xC1200000, False, True, True)])
    assert "0xc0100000  0xc0105000      20 KiB  -r-" in text
    assert "16 MiB  -rw  global" in text


def test_format_regions_aligned_up_to_4gib():
    """A region ending at 4 GiB (the kmap page at 0xFFFFF000) has an 11-digit
    end; every row widens with it, so the columns stay aligned."""
    text = paging.format_regions([Region(0xC0100000, 0xC0105000, False, False),
                                  Region(0xFFFFF000, 1 << 32, False, True, True)])
    lines = text.splitlines()
    assert "0xc0100000   0xc0105000      20 KiB  -r-" in text
    assert "0xfffff000  0x100000000       4 KiB  -rw  global" in text
    assert len({line.index("KiB") for line in lines[1:]}) == 1
    assert lines[0].index("rights") == lines[1].index("-r-")


@pytest.mark.parametrize("va,expected", [(0, (0, 0)), (0xC0100000, (768, 256)),
                                         (0xFFFFFFFF, (1023, 1023))])
def test_index_split(va, expected):
    assert (paging.pdx(va), paging.ptx(va)) == expected


def test_protnone_pages_are_the_not_present_entries_with_bit_8():
    """A kept PROT_NONE page (vmm.h's PAGE_PROTNONE): not in mappings(), in
    protnone_pages() with its frame and raw entry; bit 8 in a present entry
    is G, not this."""
    _, aspace = space([(0x1000, 0x5000, PRESENT | USER | GLOBAL),
                       (0x2000, 0x6000, PROTNONE | USER | paging.OWNED),
                       (0x3000, 0x7000, USER | paging.OWNED)])  # no marker: nothing
    assert [m.va for m in aspace.mappings()] == [0x1000]
    assert [(m.va, m.pa, m.pte) for m in aspace.protnone_pages()] == [(0x2000, 0x6000, 0x6304)]
    assert list(aspace.protnone_pages(0x3000)) == []
