"""mm frame PA and mm map's page runs on a shared-memory frame: two
processes attached to one segment (refs 3: two mappings and the segment),
then a reference count poked wrong, which mm frame must call a mismatch."""

import pytest

pytestmark = pytest.mark.qemu

SPAWN = ['set {char[6]}agent_scratch = "hello"', "print proc_spawn(agent_scratch, 0, 0)",
         "print proc_spawn(agent_scratch, 0, 0)"]
SHARE = ["print shm_create(&proc_table[0], 2)", "print shm_attach(&proc_table[0], 1)",
         "print shm_attach(&proc_table[1], 1)", "print/x 'shm.c'::segments[0].frames[0]",
         "set $pa = 'shm.c'::segments[0].frames[0] * 4096"]
FRAME = "mm frame $pa"


@pytest.mark.parametrize("paging", ["legacy", "pae"])
def test_mm_frame_names_both_mappings_and_the_segment(run_gdb, paging):
    t = run_gdb([*SPAWN, *SHARE, FRAME, "mm map 1", "set frame_table[$pa / 4096].refs = 2",
                 FRAME], cmdline=f"aslr=off paging={paging}")
    assert [t[c].split("=")[1].strip() for c in SHARE[:3]] == ["1", "-1610612736",
                                                               "-1610612736"], t.text
    pa = int(t[SHARE[3]].split("=")[1], 16) << 12
    # PAE entries are 64-bit: NX (bit 63) on the user pages, none on the kernel's RAM
    entry = "0x{:016x}" if paging == "pae" else "0x{:08x}"
    nx = 1 << 63 if paging == "pae" else 0
    good, bad = t.after(FRAME)
    assert good.splitlines() == [
        f"frame {pa:#010x} (pfn {pa >> 12:#x}): refs=3 flags=pinned node=0; PMM bitmap: used",
        "PTEs pointing at it: 3",
        f"  the kernel     va {0xC0000000 + pa:#010x}  PTE {entry.format(pa | 0x163 | nx)}"
        "  writable",
        f"  pid 1 (hello)  va 0xa0000000  PTE {entry.format(pa | 0x207 | nx)}  owned writable user",
        f"  pid 2 (hello)  va 0xa0000000  PTE {entry.format(pa | 0x207 | nx)}  owned writable user",
        "kernel references: 1 (segment 1)",
        "refs 3 == 2 PAGE_OWNED PTEs + 1 kernel reference: consistent"], good
    assert bad.splitlines()[0].startswith(f"frame {pa:#010x} (pfn {pa >> 12:#x}): refs=2 ")
    assert bad.splitlines()[-2:] == [
        "refs 2 != 2 PAGE_OWNED PTEs + 1 kernel reference: MISMATCH",
        f"problem: frame {pa:#x}: refs=2 in the frame table, expected 3 (2 PAGE_OWNED PTEs: "
        f"pid 1 (hello) va 0xa0000000 PTE {entry.format(pa | 0x207 | nx)}, pid 2 (hello) va "
        f"0xa0000000 PTE {entry.format(pa | 0x207 | nx)}; 1 kernel reference: segment 1)"], bad

    header, *rows, summary = t["mm map 1"].split("copy-on-write\n", 1)[1].splitlines()
    assert header.split() == ["start", "end", "pages", "frame", "rights", "owned", "refs", "cow"]
    assert [row.split()[:3] + row.split()[4:] for row in rows] == [
        ["0x00001000", "0x00002000", "1", "ur-", "yes", "1"],
        ["0xa0000000", "0xa0002000", "2", "urw", "yes", "3"],  # the segment's 2 frames
        ["0xbffff000", "0xc0000000", "1", "urw", "yes", "1"]], t["mm map 1"]
    assert int(rows[1].split()[3], 16) == pa, "the run starts at the segment's first frame"
    assert summary == "4 pages: 0 copy-on-write, 2 on frames with more than one reference"


COW_FLAGS = 0x1 | 0x4 | 0x200 | 0x800  # present, user, PAGE_OWNED, PAGE_COW: read-only


@pytest.mark.parametrize("paging", ["legacy", "pae"])
def test_mm_map_and_mm_frame_show_a_copy_on_write_page(run_gdb, paging):
    """The stack page made copy-on-write by vmm_protect (read-only, PAGE_COW,
    still PAGE_OWNED: what fork will do): mm map shows it as its own run, cow."""
    t = run_gdb([*SPAWN[:2], f"print vmm_protect(proc_table[0].mm.dir, 0xbffff000, {COW_FLAGS})",
                 "mm map 1"],
                cmdline=f"aslr=off paging={paging}")
    assert t[f"print vmm_protect(proc_table[0].mm.dir, 0xbffff000, {COW_FLAGS})"].split("=")[1] \
        .strip() == "0"
    _, *rows, summary = t["mm map 1"].split("copy-on-write\n", 1)[1].splitlines()
    assert [row.split()[:3] + row.split()[4:] for row in rows] == [
        ["0x00001000", "0x00002000", "1", "ur-", "yes", "1"],
        ["0xbffff000", "0xc0000000", "1", "ur-", "yes", "1", "cow"]], t["mm map 1"]
    assert summary == "2 pages: 1 copy-on-write, 0 on frames with more than one reference"


# The stack page's PTE of pid 1 (legacy: PDE 767, PTE 1023), read through the direct map.
STACK_PTE = "*(unsigned *)((proc_table[0].mm.dir->entries[767] & 0xfffff000) + 0xc0000000 + 4092)"


def test_mm_map_and_mm_frame_show_a_prot_none_page(run_gdb):
    """The stack page made a PROT_NONE entry by vmm_protnone (not present,
    its frame and reference kept): mm map shows its own run, protnone, and
    mm frame names the entry as the frame's one PAGE_OWNED holder."""
    protnone = "print vmm_protnone(proc_table[0].mm.dir, 0xbffff000)"
    t = run_gdb([*SPAWN[:2], f"set $pa = {STACK_PTE} & 0xfffff000", "print/x $pa", protnone,
                 "mm map 1", FRAME])
    assert t[protnone].split("=")[1].strip() == "0"
    pa = int(t["print/x $pa"].split("=")[1], 16)
    header, *rows, summary = t["mm map 1"].split("copy-on-write\n", 1)[1].splitlines()
    assert header.split()[-2:] == ["cow", "protnone"]
    assert [row.split()[:3] + row.split()[4:] for row in rows] == [
        ["0x00001000", "0x00002000", "1", "ur-", "yes", "1"],
        ["0xbffff000", "0xc0000000", "1", "ur-", "yes", "1", "protnone"]], t["mm map 1"]
    assert int(rows[1].split()[3], 16) == pa, "the kept frame"
    assert summary == "2 pages: 0 copy-on-write, 0 on frames with more than one reference"
    frame = t[FRAME].splitlines()
    assert f"  pid 1 (hello)  va 0xbffff000  PTE {pa | 0x304:#010x}  owned user protnone" \
        in frame, t[FRAME]
    assert frame[-1] == "refs 1 == 1 PAGE_OWNED PTE + 0 kernel references: consistent"
