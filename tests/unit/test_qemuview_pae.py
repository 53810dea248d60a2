"""QEMU's ``info tlb`` and ``info mem`` under PAE, on text built from QEMU's
format (target/i386/monitor.c): addresses as 16 hex digits, then the flag
columns X G P D A C T U W.  Under PAE the "physical address" column is the
64-bit entry with only its low bits masked off, so a set NX bit shows as
0x8000... there."""

from harness.decode.qemuview import parse_info_mem, parse_info_tlb

PAE_TLB = """\
0000000000400000: 8000000123456000 X------UW
0000000000600000: 0000000200000000 --P-A---W
00000000c0000000: 0000000000100000 -G-DA----
00000000ffe00000: 8000000fffe00000 XGP------
"""


def test_info_tlb_pae_nx_column_and_frames_past_4_gib():
    tlb = parse_info_tlb(PAE_TLB)
    assert sorted(tlb) == [0x400000, 0x600000, 0xC0000000, 0xFFE00000]
    page = tlb[0x400000]
    assert page.nx and page.pa == 0x1_2345_6000 and page.user and page.write
    assert not page.large and not page.global_
    huge = tlb[0x600000]
    assert huge.large and huge.pa == 0x2_0000_0000 and not huge.nx and huge.accessed
    kernel = tlb[0xC0000000]
    assert kernel.global_ and kernel.dirty and not kernel.nx and kernel.pa == 0x100000
    top = tlb[0xFFE00000]
    assert top.nx and top.global_ and top.large and top.pa == 0xF_FFE0_0000


def test_info_tlb_bits_62_52_are_not_part_of_the_address():
    """Bits 62:52 of an entry (reserved under PAE) come through QEMU's mask too."""
    tlb = parse_info_tlb("0000000000001000: 7ff0000000005000 ---------\n")
    assert tlb[0x1000].pa == 0x5000 and not tlb[0x1000].nx


def test_info_mem_pae_has_no_execute_column_and_can_end_at_4_gib():
    text = ("0000000000400000-0000000000800000 0000000000400000 urw\n"
            "00000000c0000000-0000000100000000 0000000040000000 -rw\n")
    assert [(r.start, r.end, r.user, r.write) for r in parse_info_mem(text)] == [
        (0x400000, 0x800000, True, True), (0xC0000000, 1 << 32, False, True)]
