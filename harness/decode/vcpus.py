"""The vCPUs of a QEMU machine as GDB and QEMU's monitor show them (pure).

QEMU's gdbstub shows each vCPU as one GDB thread; GDB's MI ``-thread-info``
names it in ``details``: "CPU#1 [halted ]" (QEMU's cpu_index and whether the
vCPU is in HLT or waiting for a SIPI) or "CPU#0 [running]".  The monitor's
``info registers`` (run for one vCPU with QMP's cpu-index) is QEMU's own view
of that vCPU's registers, the oracle the GDB view is checked against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# "CPU#3 [halted ]" / "CPU#0 [running]" (QEMU 7.2's gdbstub thread details)
_DETAILS = re.compile(r"^CPU#(\d+) \[(halted |running)\]$")


@dataclass(frozen=True)
class VcpuThread:
    """One vCPU as a GDB thread: GDB's thread id, QEMU's cpu_index, whether
    it was halted when GDB last stopped the machine, and its frame's address
    and function (None for "??")."""

    gdb_id: int
    cpu_index: int
    halted: bool
    addr: int | None
    func: str | None


def parse_details(details: str) -> tuple[int, bool] | None:
    """QEMU's cpu_index and halted flag from a thread's details ("CPU#1
    [halted ]"); None when they are not QEMU's."""
    m = _DETAILS.match(details)
    return (int(m.group(1)), m.group(2) == "halted ") if m else None


def parse_thread_info(payload: dict[str, Any]) -> list[VcpuThread]:
    """The vCPUs in an MI ``-thread-info`` payload, by cpu_index.  Raises
    ValueError for a thread whose details are not QEMU's "CPU#k [...]" (not
    a QEMU gdbstub), or two threads claiming one vCPU."""
    out = []
    for thread in payload.get("threads", []):
        details = thread.get("details", "")
        vcpu = parse_details(details)
        if vcpu is None:
            raise ValueError(f"GDB thread {thread.get('id')} has details {details!r}, not "
                             "QEMU's \"CPU#k [running|halted ]\"")
        frame = thread.get("frame", {})
        addr = frame.get("addr")
        func = frame.get("func")
        out.append(VcpuThread(gdb_id=int(thread["id"]), cpu_index=vcpu[0], halted=vcpu[1],
                              addr=int(addr, 16) if addr else None,
                              func=None if func in (None, "??") else func))
    out.sort(key=lambda t: t.cpu_index)
    indices = [t.cpu_index for t in out]
    if len(set(indices)) != len(indices):
        raise ValueError(f"two GDB threads claim one vCPU: cpu indices {indices}")
    return out


def thread_of_cpu(threads: list[VcpuThread], cpu: int) -> int:
    """GDB's thread id of vCPU ``cpu``.  Raises IndexError naming the vCPUs
    there are."""
    for t in threads:
        if t.cpu_index == cpu:
            return t.gdb_id
    raise IndexError(f"no vCPU {cpu}: this machine has vCPUs "
                     f"{[t.cpu_index for t in threads]}")


def cpu_of_thread(threads: list[VcpuThread], gdb_id: int) -> int | None:
    """The vCPU behind GDB thread ``gdb_id``; None for a thread that is none."""
    for t in threads:
        if t.gdb_id == gdb_id:
            return t.cpu_index
    return None


# "EAX=00000000 EBX=00000000 ECX=c012dfb8 EDX=000002fd"; "EFER=0000000000000800"
_REG = re.compile(r"\b(EAX|EBX|ECX|EDX|ESI|EDI|EBP|ESP|EIP|EFL|CR0|CR2|CR3|CR4|EFER)=([0-9a-f]+)")
# "CS =f000 ffff0000 0000ffff 00009b00": selector, base, limit, flags
_SEG = re.compile(r"^(ES|CS|SS|DS|FS|GS) =([0-9a-f]{4}) ([0-9a-f]{8})", re.MULTILINE)
_HLT = re.compile(r"\bHLT=([01])\b")
_CPU = re.compile(r"^CPU#(\d+)$", re.MULTILINE)
# QEMU's names for what GDB calls eflags and the segment bases GDB has.
_RENAMED = {"efl": "eflags"}


def parse_info_registers(text: str) -> dict[str, int]:
    """QEMU's ``info registers`` for one 32-bit vCPU as GDB's register names
    (eax..edi, eip, eflags, cr0, cr2, cr3, cr4, efer, the selectors cs..gs,
    fs_base and gs_base), plus ``halted`` (QEMU's HLT flag) and ``cpu`` (the
    CPU#k header).  Raises ValueError when the text has no EIP (not a
    register dump)."""
    text = text.replace("\r\n", "\n")  # the monitor ends lines with CR LF
    regs: dict[str, int] = {}
    for name, value in _REG.findall(text):
        key = name.lower()
        regs[_RENAMED.get(key, key)] = int(value, 16)
    if "eip" not in regs:
        raise ValueError(f"not an info registers dump (no EIP): {text[:80]!r}")
    for seg, selector, base in _SEG.findall(text):
        regs[seg.lower()] = int(selector, 16)
        if seg in ("FS", "GS"):
            regs[f"{seg.lower()}_base"] = int(base, 16)
    hlt = _HLT.search(text)
    if hlt:
        regs["halted"] = int(hlt.group(1))
    cpu = _CPU.search(text)
    if cpu:
        regs["cpu"] = int(cpu.group(1))
    return regs


# "TR =0028 c0125054 00000067 00008900", "LDT=0000 00000000 0000ffff 00008200":
# selector, base, limit (then flags)
_SEGMENT = re.compile(r"^(ES|CS|SS|DS|FS|GS|LDT|TR)\s*=([0-9a-f]{4}) ([0-9a-f]{8}) ([0-9a-f]{8})",
                      re.MULTILINE)
# "GDT=     c0125128 0000003f": base, limit
_TABLE = re.compile(r"^(GDT|IDT)=\s+([0-9a-f]{8}) ([0-9a-f]{8})", re.MULTILINE)


@dataclass(frozen=True)
class VcpuDump:
    """One vCPU's block of ``info registers -a``: its registers as
    :func:`parse_info_registers` names them, each segment register's
    (selector, base, limit) by lower-case name (es..gs, ldt, tr), and the
    descriptor tables' (base, limit) ("gdt", "idt")."""

    registers: dict[str, int]
    segments: dict[str, tuple[int, int, int]]
    tables: dict[str, tuple[int, int]]


def parse_info_registers_all(text: str) -> list[VcpuDump]:
    """``info registers -a``: one block per vCPU, each from its ``CPU#n``
    line, in QEMU's order.  Raises ValueError for a block without EIP."""
    text = text.replace("\r\n", "\n")
    out = []
    for block in re.split(r"^(?=CPU#\d+\s*$)", text, flags=re.MULTILINE):
        if not _CPU.search(block):
            continue  # what comes before the first CPU#
        segments = {m[1].lower(): (int(m[2], 16), int(m[3], 16), int(m[4], 16))
                    for m in _SEGMENT.finditer(block)}
        tables = {m[1].lower(): (int(m[2], 16), int(m[3], 16)) for m in _TABLE.finditer(block)}
        out.append(VcpuDump(parse_info_registers(block), segments, tables))
    return out
