"""Each vCPU of a stopped machine, seen on its own.

QEMU's gdbstub shows every vCPU as a GDB thread (``harness.decode.vcpus``);
:class:`CpuView` is one of them: its registers (control registers, EFER and
the segment bases included), guest-virtual memory read through *its* CR3
and paging mode, its page-table walk and its backtrace, each GDB command
pinned to its thread, and QEMU's monitor run on it.  The machine's own
``registers()``, ``read()`` and calls are CPU 0's (see
``harness.machine.state``).  Nothing here knows a kernel symbol: a CPU is a
GDB thread, so this works for any target QEMU runs.

:class:`Cpus` does the work behind ``Machine.cpus()`` and ``Machine.on_cpu()``
(which document them); it reaches the machine only through :class:`CpuHost`.
"""

from __future__ import annotations

from typing import Any, Protocol

from harness.decode import modes
from harness.decode.vcpus import VcpuThread, cpu_of_thread, parse_thread_info, thread_of_cpu
from harness.errors import GdbError
from harness.machine.state import AnyAddressSpace, AnyTranslation, GuestState, StateHost
from harness.transport.gdbmi import MiClient


class CpuHost(StateHost, Protocol):
    """What the per-CPU views need from their machine: what GuestState
    needs, and QEMU's monitor on one vCPU."""

    def monitor(self, command: str, *, cpu: int | None = None) -> str: ...


class CpuView:
    """vCPU ``index`` (QEMU's cpu_index), GDB thread ``gdb_id``.  ``halted``
    is whether QEMU had it halted (HLT, or an AP waiting for its SIPI) when
    the view was made; ``addr`` and ``func`` where it was then (``func``
    None where GDB knows no function)."""

    def __init__(self, host: CpuHost, thread: VcpuThread) -> None:
        self.host = host
        self.index = thread.cpu_index
        self.gdb_id = thread.gdb_id
        self.halted = thread.halted
        self.addr = thread.addr
        self.func = thread.func
        self._state = GuestState(host, thread.gdb_id)

    def __repr__(self) -> str:
        return (f"CpuView(index={self.index}, gdb_id={self.gdb_id}, halted={self.halted}, "
                f"addr={self.addr and hex(self.addr)})")

    def registers(self, *names: str) -> dict[str, int]:
        """This vCPU's registers, as Machine.registers (CORE_REGISTERS when
        none are named: cr0-cr4, efer, fs_base and gs_base included)."""
        return self._state.registers(*names)

    def reg(self, name: str) -> int:
        return self._state.reg(name)

    def write_registers(self, **values: int) -> None:
        """Write this vCPU's registers (raw, as Machine.write_registers)."""
        self._state.write_registers(**values)

    def read(self, addr: int, size: int) -> bytes:
        """Guest-virtual memory through this vCPU's CR3 and paging mode
        (physical when its paging is off); raises as Machine.read."""
        return self._state.read(addr, size)

    def read_u32(self, addr: int) -> int:
        return self._state.read_u32(addr)

    def write(self, addr: int, data: bytes) -> None:
        """Write guest-virtual memory through this vCPU's page tables."""
        self._state.write(addr, data)

    def paging_mode(self) -> modes.PagingMode | None:
        """This vCPU's paging mode; None when its CR0.PG is off."""
        return self._state.paging_mode()

    def address_space(self, cr3: int | None = None) -> AnyAddressSpace:
        """The walk of ``cr3`` (default: this vCPU's) in this vCPU's mode."""
        return self._state.address_space(cr3)

    def translate(self, va: int, cr3: int | None = None) -> AnyTranslation:
        return self._state.translate(va, cr3)

    def backtrace(self, frames: int = 16) -> list[dict[str, Any]]:
        """GDB's frames of this vCPU (MI frame records: level, addr, func,
        file, line), innermost first, at most ``frames``."""
        gdb = self.host.require_gdb(f"read CPU {self.index}'s backtrace")
        stack = gdb.command(f"-stack-list-frames --thread {self.gdb_id} 0 {frames - 1}"
                            ).payload.get("stack", [])
        return [f.get("frame", f) if isinstance(f, dict) else f for f in stack]

    def monitor(self, command: str) -> str:
        """A QEMU monitor command run on this vCPU (``info registers``,
        ``info mem``, ``info tlb`` read its state)."""
        return self.host.monitor(command, cpu=self.index)


class Cpus:
    """The vCPUs of ``host``: which GDB thread each is, and views of them."""

    def __init__(self, host: CpuHost) -> None:
        self.host = host
        self._known: list[VcpuThread] | None = None  # the thread <-> vCPU pairing, fixed

    def threads(self, gdb: MiClient | None = None) -> list[VcpuThread]:
        """Every vCPU as GDB sees it now (-thread-info).  Raises GdbError
        when the threads are not QEMU's vCPUs."""
        gdb = gdb or self.host.require_gdb("list the CPUs")
        try:
            threads = parse_thread_info(gdb.command("-thread-info").payload)
        except ValueError as exc:
            raise GdbError(f"cannot tell the CPUs apart: {exc}", **self.host.tails()) from None
        self._known = threads
        return threads

    def views(self) -> list[CpuView]:
        return [CpuView(self.host, t) for t in self.threads()]

    def view(self, cpu: int) -> CpuView:
        threads = self.threads()
        thread_of_cpu(threads, cpu)  # IndexError naming the vCPUs there are
        return CpuView(self.host, next(t for t in threads if t.cpu_index == cpu))

    def thread_of(self, cpu: int) -> int:
        """GDB's thread id of vCPU ``cpu`` (the pairing is read once: QEMU's
        vCPUs and GDB's threads for them live as long as the machine)."""
        return thread_of_cpu(self._known or self.threads(), cpu)

    def cpu_of(self, gdb: MiClient, thread: int | None) -> int | None:
        """The vCPU behind GDB thread ``thread`` (None for None)."""
        if thread is None:
            return None
        return cpu_of_thread(self._known or self.threads(gdb), thread)
