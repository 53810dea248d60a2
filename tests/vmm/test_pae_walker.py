"""The PAE walker against QEMU on a real CPU in PAE mode.

The firmware runs legacy paging, so the test builds a small PAE address
space itself: a PDPT, one directory and one table in frames the kernel hands
out, written through GDB.  Then it switches the stopped CPU to it through
GDB (EFER.NXE, CR4.PAE, CR3) and compares the walker's reading with QEMU's
``info tlb`` and ``info mem``, and with QEMU's own MMU (a GDB read of
virtual memory goes through the CPU's current paging mode).

The CPU's registers are put back afterwards only because this directory's
final checks (walker against QEMU, kernel invariants) read the kernel's own
address space; the machine is booted for this test alone and then closed."""

import struct

import pytest

from harness.decode import modes
from harness.decode.pae import NX, PaeAddressSpace, user_write_runs
from harness.decode.paging import ACCESSED, DIRTY, GLOBAL, PCD, PRESENT, PS, PWT, USER, WRITE
from harness.decode.qemuview import parse_info_mem, parse_info_tlb

MiB = 1 << 20
CR4_PAE = 1 << 5
EFER_NXE = 1 << 11


def entries(values: dict[int, int], count: int) -> bytes:
    table = [0] * count
    for i, v in values.items():
        table[i] = v
    return struct.pack(f"<{count}Q", *table)


def build_pae_space(machine):
    """Tables and two data pages in frames from the kernel; returns (cr3,
    data frame A, data frame B)."""
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
    return cr3, data_a, data_b


@pytest.mark.cold_boot
def test_walker_equals_qemu_in_pae_mode_with_nx(machine):
    saved = machine.registers("cr3", "cr4", "efer")
    cr3, data_a, data_b = build_pae_space(machine)
    try:
        machine.write_registers(efer=saved["efer"] | EFER_NXE)
        machine.write_registers(cr4=saved["cr4"] | CR4_PAE)
        machine.write_registers(cr3=cr3)
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

        # The exact map, so the two agreeing on nothing cannot pass.
        slot3 = 3 << 30
        assert [(r.start, r.end, r.rights()) for r in space.regions()] == [
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
            (slot3, slot3 + 0x1000, "urw-"),
            (slot3 + 0x1000, slot3 + 0x2000, "ur-x"),
            (slot3 + 0x2000, slot3 + 0x3000, "urwx"),
            (slot3 + 0x1FF000, slot3 + 0x200000, "-rwx"),
            (slot3 + 0x200000, slot3 + 0x400000, "-rw-"),
            (slot3 + 0x400000, slot3 + 0x600000, "ur-x"),
            (slot3 + 0x600000, slot3 + 0x601000, "-rw-"),
            (slot3 + 0x601000, slot3 + 0x602000, "-r--"),
            (slot3 + 0x602000, slot3 + 0x603000, "-rw-"),
            (slot3 + 0x7FF000, slot3 + 0x800000, "-rw-")]
        assert space.translate(0x200123).pa == 0x1_0000_0123
        assert space.translate(0x1004).pa == data_a + 4
        assert space.translate(slot3 + 0x602008).pa == data_b + 8
        assert space.translate(slot3 + 0x1FFABC).pa == 0xF_FFFF_FABC

        # QEMU's MMU (GDB's virtual reads) lands where the walker says.
        for va in (0x1000, 0x2000, 0x601000, slot3 + 0x2000):
            assert machine.read(va, 5) == machine.read_phys(space.translate(va).pa, 5)
        assert machine.read(0x1000, 5) == b"PAE-A" and machine.read(0x602000, 5) == b"PAE-B"
    finally:
        machine.write_registers(cr3=saved["cr3"])
        machine.write_registers(cr4=saved["cr4"])
        machine.write_registers(efer=saved["efer"])
