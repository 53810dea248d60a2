"""Noticing a kernel that has stopped making progress while the harness waits.

A kernel stuck in an endless loop (a first-fit search that never ends, a
lock that is never released) would otherwise cost the whole timeout of the
wait, a minute, before a test fails, and say only "did not return".  While a
call runs, :class:`ProgressWatch` looks at the stopped guest about once a
second (the call interrupts it, see harness/machine/calls.py) and decides
from what it sees outside the guest:

- the CPU's privilege level: a look in user mode is progress (a program that
  computes for a long time is the program's business, not a hang);
- the kernel's writable data (its ELF's writable load segments, .data and
  .bss, read from guest RAM): any change is progress.  The mmverify firmware
  counts every trap it takes in there (``trap_count``), so a system call, a
  fault or a timer tick always changes it; the pages around the stack pointer
  are left out, since a loop's own locals may live there, and so is what the
  target profile names as the other CPUs' own data (``progress_ignore``:
  their ticks and interrupts would make a stuck CPU 0 look busy);
- the bytes the guest wrote on its serial lines (console and record channel):
  any is progress.

The kernel is hung when every look for ``stall`` seconds found it in kernel
mode with all of that unchanged; :class:`HungGuest` then names where the CPU
was (EIP, its symbol, GDB's backtrace), and on a machine with several vCPUs
where each other vCPU was.  The looks are CPU 0's, which runs the call.  A
kernel loop that keeps writing new values to its data is not caught (it
looks busy), and nothing is reported for user programs that never end: both
end at the wait's own timeout, as before.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

from harness.errors import ConfigError, HungGuest
from harness.machine.cpus import CpuView
from harness.machine.machine import Machine
from harness.machine.state import BOOT_CPU_THREAD

PERIOD = 1.0  # seconds between looks
STALL = 3.0   # seconds of looks that saw no progress before the kernel counts as hung
PAGE = 0x1000
BACKTRACE_FRAMES = 8


@dataclass(frozen=True)
class Segment:
    """A writable load segment of the kernel: where it is, virtual and physical."""

    vaddr: int
    paddr: int
    size: int


def writable_segments(elf_path: Path) -> list[Segment]:
    """The writable PT_LOAD segments of an ELF file (its .data and .bss)."""
    with open(elf_path, "rb") as f:
        return [Segment(s["p_vaddr"], s["p_paddr"], s["p_memsz"])
                for s in ELFFile(f).iter_segments()
                if s["p_type"] == "PT_LOAD" and s["p_flags"] & P_FLAGS.PF_W and s["p_memsz"]]


def pieces_outside(seg: Segment, *holes: tuple[int, int]) -> list[tuple[int, int]]:
    """``seg`` as physical (address, size) pieces, without the virtual ranges
    ``holes`` (each [start, end))."""
    pieces = [(seg.vaddr, seg.vaddr + seg.size)]
    for cut_start, cut_end in holes:
        pieces = [part for a, b in pieces
                  for part in ((a, min(b, cut_start)), (max(a, cut_end), b)) if part[1] > part[0]]
    return [(seg.paddr + a - seg.vaddr, b - a) for a, b in pieces]


def stack_hole(esp: int) -> tuple[int, int]:
    """The pages a loop's own frame and its callees' may be writing: the
    page of ESP and one on either side."""
    page = esp & ~(PAGE - 1)
    return page - PAGE, page + 2 * PAGE


@dataclass(frozen=True)
class Look:
    """One look at the stopped guest: when, in which mode, and a digest of
    everything that changes when the kernel makes progress (empty in user mode)."""

    time: float
    kernel_mode: bool
    state: bytes


class StallClock:
    """Decides from successive looks whether the kernel is stuck: every look
    for ``stall`` seconds in kernel mode with the same state."""

    def __init__(self, stall: float = STALL) -> None:
        self.stall = stall
        self.first: Look | None = None  # the first look of the current stall

    def add(self, look: Look) -> float | None:
        """Take a look; how long the kernel has been stuck when that is at
        least ``stall`` seconds, else None."""
        if not look.kernel_mode:
            self.first = None
            return None
        if self.first is None or look.state != self.first.state:
            self.first = look
            return None
        stalled = look.time - self.first.time
        return stalled if stalled >= self.stall else None


class ProgressWatch:
    """Looks at ``machine`` (stopped) when asked, and raises HungGuest when
    the kernel has made no progress for ``stall`` seconds.  Needs the
    kernel's symbol file (for its data segments and the backtrace); raises
    ConfigError without one."""

    def __init__(self, machine: Machine, *, period: float = PERIOD,
                 stall: float = STALL) -> None:
        symbol_file = machine.cfg.target.symbol_file
        if symbol_file is None:
            raise ConfigError(f"target {machine.cfg.target.name!r} has no symbol file: the "
                              "progress watch reads the kernel's data segments from it")
        self.m = machine
        self.period = period
        self.clock = StallClock(stall)
        self.segments = writable_segments(symbol_file)
        ignore = machine.cfg.target.progress_ignore
        self.ignored = ignore(machine) if ignore is not None else []

    def look(self) -> None:
        """Look at the stopped guest; raises HungGuest when the kernel is stuck."""
        regs = self.m.registers("cs", "eip", "esp")
        kernel_mode = regs["cs"] & 3 == 0
        state = self.state(regs["esp"]) if kernel_mode else b""
        stalled = self.clock.add(Look(time.monotonic(), kernel_mode, state))
        if stalled is not None:
            raise self.hung(regs["eip"], stalled)

    def state(self, esp: int) -> bytes:
        """A digest of the kernel's data (but the pages around ``esp``) and of
        how many bytes the guest has written on its serial lines."""
        digest = hashlib.blake2b(digest_size=16)
        for seg in self.segments:
            for addr, size in pieces_outside(seg, stack_hole(esp), *self.ignored):
                digest.update(self.m.read_phys(addr, size))
        for line in (self.m.console, self.m.record_channel):
            digest.update(b"-" if line is None else line.mark().to_bytes(8, "little"))
        return digest.digest()

    def other_cpus(self) -> str:
        """Where every vCPU but CPU 0 is (the one the look is about), for
        the message on a machine with several: a deadlock shows who else
        waits where."""
        if self.m.cfg.smp == 1:
            return ""
        return "; the other CPUs: " + ", ".join(_where(c) for c in self.m.cpus()[1:])

    def hung(self, eip: int, stalled: float) -> HungGuest:
        """The error for a kernel stuck at ``eip``: its symbol and backtrace."""
        gdb = self.m.require_gdb("read where the kernel spins")
        # "shm_create + 3 in section .text"
        where = gdb.console(f"info symbol {eip:#x}").strip().split(" in section ")[0]
        if where.startswith("No symbol"):
            where = ""
        frames = gdb.command(f"-stack-list-frames --thread {BOOT_CPU_THREAD} 0 "
                             f"{BACKTRACE_FRAMES - 1}").payload.get(
            "stack", [])
        backtrace = [describe_frame(f.get("frame", f) if isinstance(f, dict) else f)
                     for f in frames]
        return HungGuest(f"the kernel made no progress for {stalled:.1f} s (every look in "
                         f"kernel mode, no trap, no output, its data unchanged): the CPU "
                         f"spins at {eip:#x} in {where or 'no symbol'}{self.other_cpus()}",
                         eip=eip, where=where, backtrace=backtrace, stalled=stalled,
                         **self.m.tails())


def _where(cpu: CpuView) -> str:
    state = "halted" if cpu.halted else "running"
    return f"CPU {cpu.index} {state} at {cpu.addr or 0:#010x} in {cpu.func or 'no symbol'}"


def describe_frame(frame: dict[str, str]) -> str:
    """One line of a backtrace from GDB/MI's frame: #N func (file:line) addr."""
    place = f" ({frame['file']}:{frame['line']})" if "file" in frame and "line" in frame else ""
    return f"#{frame.get('level', '?')} {frame.get('func', '??')}{place} {frame.get('addr', '')}"
