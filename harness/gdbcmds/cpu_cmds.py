"""``mm cpus``: every vCPU of the machine, one row each.

QEMU's gdbstub shows each vCPU as a GDB thread whose details name it
("CPU#1 [halted ]", decoded by harness.decode.vcpus); the command reads
each thread's registers by switching to it, then puts GDB's selected
thread and frame back as they were.  It needs no symbols: any kernel behind
QEMU's gdbstub has vCPUs.
"""

from __future__ import annotations

import gdb

from harness.decode.modes import PagingMode
from harness.decode.text import table
from harness.decode.vcpus import parse_details
from harness.gdbcmds.common import CommandError, Subcommand, symbolize, write

CR0_PG = 0x80000000


def paging_name(cr0: int, cr4: int, efer: int) -> str:
    """off, legacy (pse) or pae (nx), as the walker would read this CPU."""
    if not cr0 & CR0_PG:
        return "off"
    mode = PagingMode.from_registers(cr4, efer)
    if mode.pae:
        return "pae nx" if mode.nxe else "pae"
    return "legacy pse" if mode.pse else "legacy"


class CpusCommand(Subcommand):
    """Show every vCPU: mm cpus

    One row per vCPU (QEMU's cpu index), with its GDB thread, whether QEMU
    has it halted (HLT, or an AP that was never started and waits for its
    SIPI), EIP and the function there, CR3 and its paging mode (off,
    legacy, pae; nx when EFER.NXE is set).  Give a CPU's CR3 to "mm map"
    to see what it maps.  Works on any kernel behind QEMU's gdbstub."""

    name = "cpus"
    usage = "mm cpus"
    needs_firmware = False

    def run(self, argv: list[str]) -> None:
        if argv:
            raise CommandError("mm cpus takes no arguments")
        threads = []
        for thread in gdb.selected_inferior().threads():
            vcpu = parse_details(getattr(thread, "details", None) or "")
            if vcpu is None:
                raise CommandError(f"thread {thread.num} is not one of QEMU's vCPUs "
                                   "(its details are not \"CPU#k [...]\")")
            threads.append((vcpu, thread))
        selected, frame = gdb.selected_thread(), gdb.selected_frame()
        rows = []
        try:
            for (index, halted), thread in sorted(threads, key=lambda t: t[0][0]):
                thread.switch()
                newest = gdb.newest_frame()
                regs = {r: int(newest.read_register(r)) & 0xFFFFFFFF
                        for r in ("eip", "cr0", "cr3", "cr4", "efer")}
                rows.append([str(index), str(thread.num), "halted" if halted else "running",
                             f"{regs['eip']:#010x}", f"{regs['cr3']:#010x}",
                             paging_name(regs["cr0"], regs["cr4"], regs["efer"]),
                             symbolize(regs["eip"])])
        finally:
            selected.switch()
            frame.select()
        write(f"{len(rows)} vCPU{'s' * (len(rows) != 1)}")
        write(table(["cpu", "thread", "state", "eip", "cr3", "paging", "at"], rows,
                    left=(2, 5, 6)))


COMMANDS = (CpusCommand,)
