"""The PAE walker against QEMU on a real CPU in PAE mode.

The firmware runs legacy paging here (paging=legacy: both tests start from
it), so the test builds a small PAE address
space itself: a PDPT, one directory and one table in frames the kernel hands
out, written through GDB.  Then it switches the stopped CPU to it through
GDB (EFER.NXE, CR4.PAE, CR3) and compares the walker's reading with QEMU's
``info tlb`` and ``info mem``, and with QEMU's own MMU (a GDB read of
virtual memory goes through the CPU's current paging mode).  The second test
does the same through the machine API (paging_mode, address_space,
translate, pte_address, write_pte and the oracle), which must notice the
CPU's mode by itself.

The CPU's registers are put back afterwards only because this directory's
final checks (walker against QEMU, kernel invariants) read the kernel's own
address space; the machine is booted for this test alone and then closed."""

import struct
from contextlib import contextmanager

import pytest

from harness.decode import modes
from harness.decode.pae import NX, PaeAddressSpace, user_write_runs
from harness.decode.paging import ACCESSED, DIRTY, GLOBAL, PCD, PRESENT, PS, PWT, USER, WRITE
from harness.decode.qemuview import parse_info_mem, parse_info_tlb
from harness.machine.oracle import walker_disagreements

MiB = 1 << 20
CR4_PSE = 1 << 4
CR4_PAE = 1 << 5
EFER_NXE = 1 << 11
SLOT3 = 3 << 30
# The exact map of build_pae_space's tables with EFER.NXE on, so the walker
# and QEMU agreeing on nothing cannot pass.
PAE_REGIONS = [
    (0x0000, 0x1000, "urw-"),
    (0x1000, 0x2000, "ur-x"),
    (0x2000, 0x3000, "urwx"),
    (0x1FF000, 0x200000, "-rwx"),
    (0x200000, 0x400000, "-rw-"),
    (0x400000, 0x600000, "ur-x"),
    # PDE 3: the same table under a PDE with NX and without U
    (0x600000, 0x601000, "-rw-"),
    (0x601000, 0x602000, "-r--"),
    (0x602000, 0x603000, "-rw-"),
    (0x7FF000, 0x800000, "-rw-"),
    (SLOT3, SLOT3 + 0x1000, "urw-"),
    (SLOT3 + 0x1000, SLOT3 + 0x2000, "ur-x"),
    (SLOT3 + 0x2000, SLOT3 + 0x3000, "urwx"),
    (SLOT3 + 0x1FF000, SLOT3 + 0x200000, "-rwx"),
    (SLOT3 + 0x200000, SLOT3 + 0x400000, "-rw-"),
    (SLOT3 + 0x400000, SLOT3 + 0x600000, "ur-x"),
    (SLOT3 + 0x600000, SLOT3 + 0x601000, "-rw-"),
    (SLOT3 + 0x601000, SLOT3 + 0x602000, "-r--"),
    (SLOT3 + 0x602000, SLOT3 + 0x603000, "-rw-"),
    (SLOT3 + 0x7FF000, SLOT3 + 0x800000, "-rw-")]


def entries(values: dict[int, int], count: int) -> bytes:
    table = [0] * count
    for i, v in values.items():
        table[i] = v
    return struct.pack(f"<{count}Q", *table)


def build_pae_space(machine):
    """Tables and two data pages in frames from the kernel; returns (cr3,
    directory, table, data frame A, data frame B)."""
    pdpt_page, directory, table, data_a, data_b = (
        machine.call_value("allocate_page") for _ in range(5))
    cr3 = pdpt_page + 0x20  # the PDPT need only be 32-byte aligned
    machine.write_phys(data_a, b"PAE-A" + bytes(11))
    machine.write_phys(data_b, b"PAE-B" + bytes(11))
    machine.write_phys(table, entries({
        0: 0x1_2345_6000 | PRESENT | WRITE | USER | NX,   # past 4 GiB, not RAM: never read
        1: data_a | PRESENT | USER | ACCESSED | DIRTY,
        2: data_b | PRESENT | WRITE | USER | PCD | PWT,
        # 3..510 not present
        511: 0xF_FFFF_F000 | PRESENT | WRITE | GLOBAL,    # the top of 36-bit physical space
    }, 512))
    machine.write_phys(directory, entries({
        0: table | PRESENT | WRITE | USER,
        1: 0x1_0000_0000 | PRESENT | PS | WRITE | NX,      # 2 MiB past 4 GiB, NX in the PDE
        2: 0x400000 | PRESENT | PS | USER | GLOBAL,        # 2 MiB, executable
        3: table | PRESENT | WRITE | NX,                   # the same table again, NX above it
        # 4..511 not present
    }, 512))
    # PDPTEs: P only (R/W and U/S are reserved there).  1 GiB slots 0 and 3
    # share the directory; 1 and 2 are not present.
    machine.write_phys(cr3, entries({0: directory | PRESENT, 3: directory | PRESENT}, 4))
    return cr3, directory, table, data_a, data_b


@contextmanager
def pae_cpu(machine, cr3):
    """The stopped CPU in PAE mode with EFER.NXE on ``cr3``'s PDPT, its
    registers put back afterwards."""
    saved = machine.registers("cr3", "cr4", "efer")
    try:
        machine.write_registers(efer=saved["efer"] | EFER_NXE)
        machine.write_registers(cr4=saved["cr4"] | CR4_PAE)
        machine.write_registers(cr3=cr3)
        yield saved
    finally:
        machine.write_registers(cr3=saved["cr3"])
        machine.write_registers(cr4=saved["cr4"])
        machine.write_registers(efer=saved["efer"])


@pytest.mark.cold_boot
@pytest.mark.machine(cmdline="paging=legacy")
def test_walker_equals_qemu_in_pae_mode_with_nx(machine):
    cr3, _, _, data_a, data_b = build_pae_space(machine)
    with pae_cpu(machine, cr3):
        regs = machine.registers("cr3", "cr4", "efer")
        # QEMU's gdbstub writes EFER and CR4 on i386: the CPU is now in PAE with NXE.
        assert regs["cr3"] == cr3 and regs["cr4"] & CR4_PAE and regs["efer"] & EFER_NXE
        mode = modes.PagingMode.from_registers(regs["cr4"], regs["efer"])
        space = modes.walk(machine, regs["cr3"], mode)
        assert isinstance(space, PaeAddressSpace)

        ours = {m.va: m for m in space.mappings()}
        tlb = parse_info_tlb(machine.monitor("info tlb"))
        assert sorted(tlb) == sorted(ours)
        for va, m in ours.items():
            leaf, q = m.leaf, tlb[va]
            assert (q.pa, q.large, q.nx, q.user, q.write, q.global_, q.accessed, q.dirty,
                    q.pcd, q.pwt) == (
                m.pa, m.pte is None, bool(leaf & NX), bool(leaf & USER), bool(leaf & WRITE),
                bool(leaf & GLOBAL), bool(leaf & ACCESSED), bool(leaf & DIRTY),
                bool(leaf & PCD), bool(leaf & PWT)), hex(va)
        qemu_mem = [(r.start, r.end, r.user, r.write)
                    for r in parse_info_mem(machine.monitor("info mem"))]
        assert user_write_runs(space.regions()) == qemu_mem

        assert [(r.start, r.end, r.rights()) for r in space.regions()] == PAE_REGIONS
        assert space.translate(0x200123).pa == 0x1_0000_0123
        assert space.translate(0x1004).pa == data_a + 4
        assert space.translate(SLOT3 + 0x602008).pa == data_b + 8
        assert space.translate(SLOT3 + 0x1FFABC).pa == 0xF_FFFF_FABC

        # QEMU's MMU (GDB's virtual reads) lands where the walker says.
        for va in (0x1000, 0x2000, 0x601000, SLOT3 + 0x2000):
            assert machine.read(va, 5) == machine.read_phys(space.translate(va).pa, 5)
        assert machine.read(0x1000, 5) == b"PAE-A" and machine.read(0x602000, 5) == b"PAE-B"


@pytest.mark.cold_boot
@pytest.mark.machine(cmdline="paging=legacy")
def test_machine_api_and_oracle_follow_the_cpu_into_pae(machine):
    legacy_mode = machine.paging_mode()
    assert legacy_mode is not None and not legacy_mode.pae and not legacy_mode.nxe
    cr3, directory, table, data_a, data_b = build_pae_space(machine)
    with pae_cpu(machine, cr3) as saved:
        assert machine.paging_mode() == modes.PagingMode(
            pae=True, pse=bool(saved["cr4"] & CR4_PSE), nxe=True)
        space = machine.address_space()
        assert isinstance(space, PaeAddressSpace) and space.cr3 == cr3
        assert [(r.start, r.end, r.rights()) for r in space.regions()] == PAE_REGIONS
        assert machine.translate(0x1004).pa == data_a + 4
        assert machine.translate(0x200123).pa == 0x1_0000_0123
        assert machine.translate(0x1004).rights() == "ur-x"
        assert walker_disagreements(machine) == []

        # The entry addresses are 8 bytes apart: a PTE, and the PDE of a 2 MiB page.
        assert machine.pte_address(0x2000) == table + 2 * 8
        assert machine.pte_address(SLOT3 + 0x602000) == table + 2 * 8
        assert machine.pte_address(0x400000) == directory + 2 * 8
        with pytest.raises(KeyError):
            machine.pte_address(1 << 30)  # PDPTE 1 is not present

        # A 64-bit write: NX in bit 63 lands, W goes.
        entry = data_b | PRESENT | USER | NX
        machine.write_pte(0x2000, entry)
        assert machine.read_phys(table + 2 * 8, 8) == entry.to_bytes(8, "little")
        assert machine.translate(0x2000).rights() == "ur--"
        assert machine.translate(SLOT3 + 0x2008).pa == data_b + 8
        assert walker_disagreements(machine) == []

        # A PTE with a reserved bit (40, past the 36-bit MAXPHYADDR) written
        # behind QEMU's back: the CPU would fault on it, the walker maps
        # nothing there, QEMU's monitor still shows a page.  The oracle says so.
        machine.write_pte(0x1000, data_a | PRESENT | USER | 1 << 40)
        assert machine.translate(0x1000).pa is None
        assert machine.translate(0x1000).reserved
        problems = walker_disagreements(machine)
        assert problems[1] == ("pages differ: walker only [], QEMU only "
                               "['0x1000', '0x601000', '0xc0001000', '0xc0601000']")
        assert problems[0].startswith("region map != info mem")
        assert len(problems) == 2
        machine.write_pte(0x1000, data_a | PRESENT | USER)
        assert walker_disagreements(machine) == []
