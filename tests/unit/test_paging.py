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
    PRESENT,
    PS,
    USER,
    WRITE,
    Entry,
    Region,
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
        assert aspace.translate(0x00402000).pa is None
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
        assert len(aspace.regions()) == 1
        assert len(aspace.regions(split_global=True)) == 2


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
