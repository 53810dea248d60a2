"""Parsers of QEMU monitor output, on text captured from QEMU 7.2."""

import pytest

from harness.decode.qemuview import parse_info_mem, parse_info_tlb, ram_ranges

MTREE = """\
FlatView #0
 AS "i440FX", root: bus master container
 Root memory region: (none)
  No rendered FlatView

FlatView #1
 AS "memory", root: system
 AS "cpu-memory-0", root: system
 Root memory region: system
  0000000000000000-00000000000bffff (prio 0, ram): ram
  00000000000c0000-00000000000fffff (prio 1, rom): pc.bios @0000000000020000
  0000000000100000-00000000bfffffff (prio 0, ram): ram @0000000000100000
  0000000100000000-000000011fffffff (prio 0, ram): ram @00000000c0000000

FlatView #2
 AS "I/O", root: io
  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan
  0000000000000000-00000000bfffffff (prio 0, ram): ram
"""

INFO_MEM = """\
00000000c0100000-00000000c0105000 0000000000005000 -r-
00000000c0105000-00000000c010b000 0000000000006000 -rw
0000000080000000-0000000080001000 0000000000001000 urw
"""

INFO_TLB = """\
00000000c0100000: 0000000000100000 -G--A----
00000000c0ffd000: 0000000000ffd000 -G-DA---W
0000000000400000: 0000000000400000 --P-A--UW
"""


def test_ram_ranges_come_from_the_memory_address_space_only():
    assert ram_ranges(MTREE) == [(0, 0xC0000), (0x100000, 0xC0000000),
                                 (0x100000000, 0x120000000)]


def test_info_mem():
    regions = parse_info_mem(INFO_MEM)
    assert [(r.start, r.end, r.user, r.write) for r in regions] == [
        (0xC0100000, 0xC0105000, False, False),
        (0xC0105000, 0xC010B000, False, True),
        (0x80000000, 0x80001000, True, True)]


def test_info_tlb():
    tlb = parse_info_tlb(INFO_TLB)
    text = tlb[0xC0100000]
    assert text.pa == 0x100000 and text.global_ and text.accessed and not text.write
    assert tlb[0xC0FFD000].dirty and tlb[0xC0FFD000].write
    big = tlb[0x400000]
    assert big.large and big.user and big.write and not big.global_


def test_ram_ranges_when_memory_is_the_first_flat_view():
    text = ("FlatView #0\n AS \"memory\", root: system\n"
            "  0000000000000000-0000000007ffffff (prio 0, ram): pc.ram\n"
            "FlatView #1\n AS \"I/O\", root: io\n"
            "  0000000000000000-00000000000fffff (prio 0, ram): other\n")
    assert ram_ranges(text) == [(0, 0x8000000)]


def test_ram_ranges_without_a_memory_view_is_an_error():
    with pytest.raises(ValueError) as e:
        ram_ranges("FlatView #0\n AS \"I/O\", root: io\n")
    assert str(e.value) == 'no flat view of the "memory" address space in info mtree -f'


TLB_BITS = """\
0000000000001000: 0000000000002000 X--------
0000000000003000: 0000000000004000 -G-------
0000000000005000: 0000000000006000 --P------
0000000000007000: 0000000000008000 ---D-----
0000000000009000: 000000000000a000 ----A----
000000000000b000: 000000000000c000 -----C---
000000000000d000: 000000000000e000 ------T--
000000000000f000: 0000000000010000 -------U-
0000000000011000: 0000000000012000 --------W
"""


def test_info_tlb_each_flag_alone():
    """QEMU's columns: X(NX) G(global) P(PSE) D A C(PCD) T(PWT) U W."""
    fields = ["nx", "global_", "large", "dirty", "accessed", "pcd", "pwt", "user", "write"]
    tlb = parse_info_tlb(TLB_BITS)
    assert sorted(tlb) == list(range(0x1000, 0x13000, 0x2000))
    seen = []
    for va in sorted(tlb):
        entry = tlb[va]
        assert entry.pa == va + 0x1000
        seen.append([f for f in fields if getattr(entry, f)])
    assert seen == [["nx"], ["global_"], ["large"], ["dirty"], ["accessed"], ["pcd"], ["pwt"],
                    ["user"], ["write"]]
