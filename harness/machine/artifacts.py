"""What a failed test leaves behind for the person who has to debug it.

:func:`collect` writes, into one folder per failed test: the test's share of
the console log and the record channel (and both whole), the GDB/MI transcript, the registers,
QEMU's own view of the page tables (``info mem``, ``info tlb``), the harness
walker's map of the current address space, and how QEMU was started; and
for every vCPU its registers and backtrace (``cpus.txt``: on a machine with
several CPUs, who spins where) and QEMU's own view of it (``cpus-qemu.txt``:
``info registers`` and ``info lapic``).  It returns a short summary for the
test report.  Each item is best-effort: a dead machine still yields its logs.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError
from harness.machine.machine import Machine
from harness.machine.progress import describe_frame
from harness.transport.record_channel import Mark

SUMMARY_REGISTERS = ("eip", "esp", "ebp", "eax", "ecx", "edx", "ebx", "esi", "edi",
                     "eflags", "cs", "cr0", "cr2", "cr3", "cr4")
# Per CPU also the registers that tell CPUs apart once each has its own
# per-CPU data (GS base) and paging state (EFER.NXE is per CPU).
CPU_REGISTERS = (*SUMMARY_REGISTERS, "gs_base", "efer")


def safe_name(nodeid: str) -> str:
    """A folder name for a test id: tests/pmm/test_x.py::test_y[a] -> pmm__test_x__test_y_a_"""
    name = nodeid.removeprefix("tests/").replace(".py::", "__").replace("::", "__")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:150]


def _attempt(dest: Path, name: str, produce: Callable[[], str]) -> str | None:
    try:
        text = produce()
    except (HarnessError, OSError, KeyError) as exc:
        text = f"(unavailable: {exc.__class__.__name__}: {str(exc).splitlines()[0]})"
        (dest / name).write_text(text + "\n")
        return None
    (dest / name).write_text(text)
    return text


def format_registers(regs: dict[str, int]) -> str:
    return "\n".join(f"{name:8} {value:#010x}" for name, value in regs.items()) + "\n"


def cpus_text(machine: Machine) -> tuple[str, list[str]]:
    """Every vCPU's registers and backtrace (as GDB sees them: one thread
    each), and one summary line per vCPU."""
    blocks, summary = [], []
    for cpu in machine.cpus():
        regs = cpu.registers()
        picked = {k: regs[k] for k in CPU_REGISTERS if k in regs}
        frames = [describe_frame(f) for f in cpu.backtrace()]
        state = "halted" if cpu.halted else "running"
        blocks.append(f"CPU {cpu.index} (gdb thread {cpu.gdb_id}, {state})\n"
                      + format_registers(picked)
                      + "backtrace:\n" + "".join(f"  {f}\n" for f in frames))
        summary.append(f"CPU {cpu.index} {state:7} eip={regs.get('eip', 0):#010x} "
                       f"cr3={regs.get('cr3', 0):#010x} {frames[0] if frames else ''}")
    return "\n".join(blocks), summary


def cpus_qemu_text(machine: Machine) -> str:
    """QEMU's own view of every vCPU: info registers and info lapic on each."""
    out = []
    for cpu in range(machine.cfg.smp):
        for command in ("info registers", "info lapic"):
            try:
                text = machine.monitor(command, cpu=cpu)
            except HarnessError as exc:
                text = f"(unavailable: {str(exc).splitlines()[0]})\n"
            text = text.replace("\r", "").lstrip("\n")
            out.append(f"=== CPU {cpu}: {command} ===\n{text}")
    return "\n".join(out)


def _attempt_cpus(machine: Machine, dest: Path) -> list[str]:
    """Write cpus.txt; its summary lines, none when it could not be made."""
    lines: list[str] = []

    def produce() -> str:
        text, summary = cpus_text(machine)
        lines.extend(summary)
        return text

    _attempt(dest, "cpus.txt", produce)
    return lines


def collect(machine: Machine, dest: Path, *, serial_since: int = 0,
            records_since: int = 0) -> str:
    """Write the artifacts of ``machine`` to ``dest``; return a report summary."""
    dest.mkdir(parents=True, exist_ok=True)
    usable = machine.alive and machine.gdb is not None and not machine.gdb.running
    if machine.console is not None:
        (dest / "serial.log").write_text(machine.console.text(serial_since))
        (dest / "serial-full.log").write_text(machine.console.text())
    if machine.record_channel is not None:
        channel = machine.record_channel
        (dest / "records.log").write_text(channel.text(Mark(records_since)))
        (dest / "records-full.log").write_text(channel.text())
    if machine.gdb is not None and machine.gdb._log is not None:
        machine.gdb._log.flush()
    if machine.run_dir is not None:
        for name in ("gdb-mi.log", "gdb-stderr.log", "qemu-argv.txt", "qemu-stderr.log"):
            src = machine.run_dir / name
            if src.exists():
                shutil.copy2(src, dest / name)
    regs: dict[str, int] = {}
    cpu_lines: list[str] = []
    if usable:
        try:
            regs = machine.registers()
        except (HarnessError, KeyError) as exc:
            (dest / "registers.txt").write_text(f"(unavailable: {exc})\n")
        else:
            (dest / "registers.txt").write_text(format_registers(regs))
        _attempt(dest, "info-mem.txt", lambda: machine.monitor("info mem"))
        _attempt(dest, "info-tlb.txt", lambda: machine.monitor("info tlb"))
        _attempt(dest, "page-tables.txt", machine.page_map_text)
        cpu_lines = _attempt_cpus(machine, dest)
        _attempt(dest, "cpus-qemu.txt", lambda: cpus_qemu_text(machine))
    summary = [f"artifacts: {dest}"]
    if machine.console is not None:
        summary += ["--- serial (this test, tail) ---", machine.console.tail(30, serial_since)]
    if machine.gdb is not None:
        summary += ["--- gdb/mi (tail) ---", machine.gdb.tail(20)]
    if regs:
        picked = {k: regs[k] for k in SUMMARY_REGISTERS if k in regs}
        summary += ["--- registers ---", format_registers(picked).rstrip()]
    if len(cpu_lines) > 1:
        summary += ["--- cpus ---", *cpu_lines]
    elif machine.dead is not None:
        summary += [f"--- machine gone: {machine.dead.reason} ---"]
    return "\n".join(summary)

