"""``mm cpus``: every vCPU of the machine, one row each; and ``--cpu N`` for
the page-table commands (``mm map``, ``mm vtop``, ``mm pt``), which read
$cr3, CR4 and EFER of GDB's selected thread.

QEMU's gdbstub shows each vCPU as a GDB thread whose details name it
("CPU#1 [halted ]", decoded by harness.decode.vcpus); the command reads
each thread's registers by switching to it, then puts GDB's selected
thread and frame back as they were.  It needs no symbols: any kernel behind
QEMU's gdbstub has vCPUs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import gdb

from harness.decode.modes import PagingMode
from harness.decode.text import table
from harness.decode.vcpus import parse_details
from harness.gdbcmds.common import (
    CommandError,
    Subcommand,
    firmware,
    symbolize,
    u32,
    value,
    write,
)

CR0_PG = 0x80000000


def vcpu_threads() -> list[tuple[int, bool, gdb.InferiorThread]]:
    """(cpu index, halted, GDB thread) of every vCPU, by index.  Raises
    CommandError for a thread that is not one of QEMU's vCPUs."""
    out = []
    for thread in gdb.selected_inferior().threads():
        vcpu = parse_details(getattr(thread, "details", None) or "")
        if vcpu is None:
            raise CommandError(f"thread {thread.num} is not one of QEMU's vCPUs "
                               "(its details are not \"CPU#k [...]\")")
        out.append((vcpu[0], vcpu[1], thread))
    return sorted(out, key=lambda t: t[0])


@contextlib.contextmanager
def selected_cpu(argv: list[str]) -> Iterator[list[str]]:
    """``--cpu N`` taken out of ``argv``: within the block GDB's selected
    thread is vCPU N's (its $cr3, CR4 and EFER are the ones read), and the
    selection is put back afterwards.  Without the option nothing changes.
    Raises CommandError for a vCPU that is not there or has paging off (it
    translates nothing: its addresses are physical)."""
    if "--cpu" not in argv:
        yield argv
        return
    at = argv.index("--cpu")
    if at + 1 >= len(argv) or not argv[at + 1].isdigit():
        raise CommandError("--cpu needs a vCPU index (mm cpus lists them)")
    cpu, rest = int(argv[at + 1]), argv[:at] + argv[at + 2:]
    threads = {index: thread for index, _halted, thread in vcpu_threads()}
    if cpu not in threads:
        raise CommandError(f"no vCPU {cpu}: this machine has vCPUs {sorted(threads)}")
    selected, frame = gdb.selected_thread(), gdb.selected_frame()
    threads[cpu].switch()
    try:
        if not int(gdb.newest_frame().read_register("cr0")) & CR0_PG:
            raise CommandError(f"vCPU {cpu} has paging off (CR0.PG clear): it translates "
                               "nothing, its addresses are physical")
        yield rest
    finally:
        selected.switch()
        if frame.is_valid():  # a thread switch can flush GDB's frame cache
            frame.select()


def held_locks(index: int) -> list[str]:
    """The locks vCPU ``index`` holds, outermost first, as "class at site",
    from its struct cpu's held stack (kernel/lockdep.h); empty when it holds
    none or the firmware has no such stack."""
    try:
        held = value(f"cpus[{index}].locks")
    except gdb.error:
        return []
    out = []
    for i in range(min(u32(held["depth"]), int(held["at"].type.range()[1]) + 1)):
        entry = held["at"][i]
        name = value(f"lock_class_name[{u32(entry['cls'])}]").string()
        out.append(f"{name} at {symbolize(u32(entry['caller']), return_address=True)}")
    return out


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
    to see what it maps.  Works on any kernel behind QEMU's gdbstub; with
    this firmware's symbols a second table gives each CPU's struct cpu:
    online, the process it runs, the frames its frame cache holds, the
    requests other CPUs left it (tlb_pending: a bit per shootdown sender,
    0x80000000 a frame-cache drain) and the IPIs it took; then the
    spinlocks each CPU holds (its lock-order checker's stack: lockdebug=on),
    class and lock site."""

    name = "cpus"
    usage = "mm cpus"
    needs_firmware = False

    def run(self, argv: list[str]) -> None:
        if argv:
            raise CommandError("mm cpus takes no arguments")
        threads = vcpu_threads()
        selected, frame = gdb.selected_thread(), gdb.selected_frame()
        rows, paged = [], None
        try:
            for index, halted, thread in threads:
                thread.switch()
                newest = gdb.newest_frame()
                regs = {r: int(newest.read_register(r)) & 0xFFFFFFFF
                        for r in ("eip", "cr0", "cr3", "cr4", "efer")}
                if paged is None and regs["cr0"] & CR0_PG:
                    paged = thread  # reads the kernel's variables through its paging
                rows.append([str(index), str(thread.num), "halted" if halted else "running",
                             f"{regs['eip']:#010x}", f"{regs['cr3']:#010x}",
                             paging_name(regs["cr0"], regs["cr4"], regs["efer"]),
                             symbolize(regs["eip"])])
        finally:
            selected.switch()
            if frame.is_valid():  # a thread switch can flush GDB's frame cache
                frame.select()
        write(f"{len(rows)} vCPU{'s' * (len(rows) != 1)}")
        write(table(["cpu", "thread", "state", "eip", "cr3", "paging", "at"], rows,
                    left=(2, 5, 6)))
        if firmware() and paged is not None:
            write_kernel_state([index for index, _halted, _thread in threads], paged)


def process_on(index: int) -> str:
    """What vCPU ``index`` runs for: the current process's pid on CPU 0,
    which alone runs the scheduler (``current``, kernel/proc.h), "kernel"
    when none is current; "-" on the others, which run no process yet."""
    if index:
        return "-"
    current = value("current")
    return "kernel" if not int(current) else f"pid {u32(current['pid'])}"


def kernel_state_row(index: int) -> list[str]:
    """vCPU ``index`` as the firmware's struct cpu has it (kernel/smp.h)."""
    cpu = value(f"cpus[{index}]")
    return [str(index), "yes" if u32(cpu["online"]) else "no", process_on(index),
            str(u32(cpu["frames"]["count"])), f"{u32(cpu['tlb_pending']):#x}",
            str(u32(cpu["ipis"]))]


def write_kernel_state(indexes: list[int], paged: gdb.InferiorThread) -> None:
    """Each CPU's struct cpu (online, the process it runs, the frames its
    cache holds, the requests other CPUs left it, the IPIs it took) and the
    locks it holds, read through a vCPU with paging on (the selected one may
    have none: an AP still in reset)."""
    selected, frame = gdb.selected_thread(), gdb.selected_frame()
    paged.switch()
    try:
        write(table(["cpu", "online", "process", "cached", "requests", "ipis"],
                    [kernel_state_row(index) for index in indexes], left=(1, 2)))
        if not u32(value("lockdebug")):
            write("locks held: not counted (lockdebug=off)")
            return
        for index in indexes:
            for lock in held_locks(index):
                write(f"cpu {index} holds {lock}")
    finally:
        selected.switch()
        if frame.is_valid():  # a thread switch can flush GDB's frame cache
            frame.select()


COMMANDS = (CpusCommand,)
