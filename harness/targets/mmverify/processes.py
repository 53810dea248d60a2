"""User processes seen from the harness: the kernel's process table and
history, spawning and running programs, their symbols, their memory.

Everything is read from the machine: the process table and the record of
finished processes from kernel memory (struct layouts from the debug info),
exits and kills also from the kernel's record channel, and the two are
compared.  What a program printed is read from the OUT records in which the
kernel attributes every write() to its process: :meth:`Userland.output` (the
bytes) and :meth:`Userland.claims` (records in them, the program's own words).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from harness.decode import paging
from harness.decode.records import Record, parse_record
from harness.errors import ArgumentError, ConfigError
from harness.machine.machine import Machine
from harness.machine.progress import PERIOD, STALL, ProgressWatch
from harness.machine.state import AnyAddressSpace
from harness.targets.mmverify.kernel import Kernel
from harness.transport.record_channel import Mark

STATES = ("free", "ready", "running", "blocked", "zombie")


@dataclass(frozen=True)
class ProcessInfo:
    """A live process, as the kernel's process table has it."""

    pid: int
    name: str
    state: str
    cr3: int
    heap_base: int
    brk: int
    shm_base: int
    stack_top: int
    stack_limit: int
    pages: int
    demand_faults: int
    kstack_top: int


@dataclass(frozen=True)
class SpawnLimits:
    """The kernel's buffers behind proc_spawn, in bytes, from its debug info."""

    name: int     # a module's (and a process's) name, NUL included
    argv: int     # proc_spawn's "name args" line, NUL included
    scratch: int  # agent_scratch, where the harness puts both strings


@dataclass(frozen=True)
class ProcessResult:
    """How a process ended: its exit status, or the kill and its reason."""

    pid: int
    name: str
    status: int
    killed: bool
    reason: str  # "exit", or why it was killed (null-pointer, stack-overflow...)
    addr: int = 0
    err: int = 0
    eip: int = 0


def _text(raw: list[int]) -> str:
    return bytes(raw).split(b"\0", 1)[0].decode(errors="replace")


def _signed(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


@functools.cache
def elf_symbols(path: Path) -> dict[str, int]:
    """Function and object symbols of an ELF file (a user program).  Raises
    ConfigError for an ELF without a symbol table."""
    with open(path, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise ConfigError(f"{path} has no symbol table (.symtab): build it unstripped")
        return {s.name: s["st_value"] for s in symtab.iter_symbols() if s.name}


class Userland:
    """Processes on one machine (whose modules include the user programs)."""

    def __init__(self, machine: Machine, user_dir: Path) -> None:
        self.m = machine
        self.k = Kernel(machine)
        self.user_dir = user_dir
        # Pids start again at 1 on a machine restored from its snapshot, so
        # output is read from here on unless asked otherwise.
        self.start = machine.mark()

    # -- the kernel's records ---------------------------------------------------------

    def processes(self) -> list[ProcessInfo]:
        """Every process in the table that is not free."""
        return [ProcessInfo(p["pid"], p["name"], STATES[p["state"]], p["cr3"], p["heap_base"],
                            p["brk"], p["shm_base"], p["stack_top"], p["stack_limit"], p["pages"],
                            p["demand_faults"], p["kstack_top"])
                for p in self.k.process_table()]

    def process(self, pid: int) -> ProcessInfo:
        """The live process ``pid``.  Raises KeyError when there is none."""
        for p in self.processes():
            if p.pid == pid:
                return p
        raise KeyError(f"no live process {pid}")

    def history(self) -> dict[int, ProcessResult]:
        """Finished processes the kernel remembers (the last PROC_HISTORY)."""
        finished = self.k.u32("proc_finished")
        size = self.k.sizeof("proc_history") // self.k.layout("proc_record").size
        records = self.k.read_array("proc_record", self.m.symbol("proc_history"), size)
        out = {}
        for r in records[:min(finished, size)]:
            out[r["pid"]] = ProcessResult(r["pid"], _text(r["name"]), _signed(r["status"]),
                                          bool(r["killed"]),
                                          _text(r["reason"]) if r["killed"] else "exit",
                                          r["addr"], r["err"], r["eip"])
        return out

    def results_from_log(self, since: Mark | int = 0) -> dict[int, ProcessResult]:
        """The same, from the EXIT records (a kill's carries where it happened)."""
        out = {}
        for r in self.m.records("EXIT", since=since):
            pid, killed = r.int("pid"), r["killed"] == "1"
            where = (r.int("addr"), r.int("err"), r.int("eip")) if killed else (0, 0, 0)
            out[pid] = ProcessResult(pid, r["name"], int(r["status"]), killed, r["reason"],
                                     *where)
        return out

    # -- running programs -----------------------------------------------------------------

    def spawn(self, name: str, args: str = "") -> int:
        """Start a user program (a module) as a new process; its pid.

        ``name`` and ``args`` are checked against the kernel's own buffers
        (spawn_limits()) before anything is written: a string the kernel
        would cut short, or that would not fit the scratch buffer, raises
        ArgumentError and the guest is not touched.  Raises RuntimeError with
        the kernel's error when it refuses the spawn."""
        name_bytes, args_bytes = self._spawn_strings(name, args)
        scratch = self.m.symbol("agent_scratch")
        self.m.write(scratch, name_bytes + b"\0" + args_bytes + b"\0")
        pid = self.m.call_value("proc_spawn", scratch, scratch + len(name_bytes) + 1, 0)
        if pid < 0:
            raise RuntimeError(f"spawn {name!r} failed: {pid}")
        return pid

    @functools.cached_property
    def spawn_limits(self) -> SpawnLimits:
        return SpawnLimits(name=self.k.sizeof("((struct module *)0)->name"),
                           argv=self.k.sizeof("proc_spawn::argv_text"),
                           scratch=self.k.sizeof("agent_scratch"))

    def _spawn_strings(self, name: str, args: str) -> tuple[bytes, bytes]:
        limits = self.spawn_limits
        name_bytes, args_bytes = name.encode(), args.encode()
        if not name_bytes or b"\0" in name_bytes or b" " in name_bytes:
            raise ArgumentError(f"spawn {name!r}: a program name is a module's file name, "
                                "not empty, without spaces or NUL bytes")
        if b"\0" in args_bytes:
            raise ArgumentError(f"spawn {name!r}: the arguments contain a NUL byte "
                                f"(at {args_bytes.index(0)}); the kernel would stop there")
        if len(name_bytes) >= limits.name:
            raise ArgumentError(f"spawn: the name {name!r} is {len(name_bytes)} bytes; module "
                                f"names are at most {limits.name - 1} (struct module's name "
                                f"is {limits.name} bytes)")
        room = limits.argv - 1 - len(name_bytes) - 1  # "name args" and its NUL
        if len(args_bytes) > room:
            raise ArgumentError(f"spawn {name!r}: the arguments are {len(args_bytes)} bytes; "
                                f"the kernel's command line for a process (proc_spawn's "
                                f"argv_text, {limits.argv} bytes) leaves room for {room} after "
                                "the name, and would cut the rest off")
        needed = len(name_bytes) + len(args_bytes) + 2
        if needed > limits.scratch:  # not with today's sizes, but the buffers are separate
            raise ArgumentError(f"spawn {name!r}: name and arguments need {needed} bytes; "
                                f"agent_scratch has {limits.scratch}")
        return name_bytes, args_bytes

    def run(self, timeout: float = 60, *, stall: float = STALL,
            period: float = PERIOD) -> dict[int, ProcessResult]:
        """Run the scheduler until no process is runnable; the processes that
        ended meanwhile, after checking the log and the kernel agree.  A
        kernel that stops making progress on the way (an endless loop in a
        system call) raises HungGuest naming where it spins once ``stall``
        seconds of looks, ``period`` apart, saw it stuck
        (harness/machine/progress.py); programs that run long in user mode
        run until ``timeout``."""
        mark = self.m.mark()
        with self.m.watching(ProgressWatch(self.m, period=period, stall=stall)):
            self.m.call("sched_run", timeout=timeout)
        return self.finished_since(mark)

    def finished_since(self, mark: Mark | int) -> dict[int, ProcessResult]:
        """Processes that ended since log offset ``mark``; for each one the
        kernel still remembers (its last PROC_HISTORY), log and kernel agree.
        Raises AssertionError, as a failed check, when they do not, or when
        the kernel remembers none of them."""
        from_log = self.results_from_log(mark)
        kernel = self.history()
        compared = 0
        for pid, result in from_log.items():
            if pid in kernel:
                if kernel[pid] != result:
                    raise AssertionError(f"pid {pid}: the serial log says {result}, the kernel "
                                         f"says {kernel[pid]}")
                compared += 1
        if from_log and not compared:
            raise AssertionError("the kernel remembers none of the processes that ended")
        return from_log

    # -- what programs printed --------------------------------------------------------

    def writes(self, since: Mark | None = None) -> list[tuple[int, bytes]]:
        """Every write() since ``since`` (default: since this Userland was
        made), in order, as (pid, bytes) from the kernel's OUT records (a long
        write is several)."""
        records = self.m.records("OUT", since=self.start if since is None else since)
        return [(r.int("pid"), r.bytes("data")) for r in records]

    def output(self, pid: int, since: Mark | None = None) -> bytes:
        """All that process ``pid`` wrote (stdout and stderr) since ``since``."""
        return b"".join(data for who, data in self.writes(since) if who == pid)

    def claims(self, tag: str | None = None, pid: int | None = None,
               since: Mark | None = None) -> list[Record]:
        """Records that user programs printed (``USER prog=...`` lines): what a
        program says about itself, for tests of that program, never evidence
        about the kernel.  Each process's output is split into lines on its
        own, so processes that interleave cannot merge or split each other's
        lines; the lines come in the order they were completed (a last line
        without a newline comes at the end).  ``pid`` picks one process."""
        pending: dict[int, bytes] = {}
        lines: list[str] = []
        for who, data in self.writes(since):
            if pid is not None and who != pid:
                continue
            *complete, pending[who] = (pending.get(who, b"") + data).split(b"\n")
            lines += [line.decode("latin-1") for line in complete]
        lines += [rest.decode("latin-1") for rest in pending.values() if rest]
        records = (parse_record(line) for line in lines)
        return [r for r in records if r is not None and (tag is None or r.tag == tag)]

    # -- symbols and memory --------------------------------------------------------------

    def symbol(self, program: str, name: str) -> int:
        """Address of a symbol of a user program (from its ELF file)."""
        return elf_symbols(self.user_dir / f"{program}.elf")[name]

    def address_space(self, pid: int) -> AnyAddressSpace:
        return self.m.address_space(self.process(pid).cr3)

    def read(self, pid: int, va: int, size: int) -> bytes:
        """Process memory through its own page tables (any process, whatever
        CR3 is loaded).  Raises KeyError at a page not mapped in it."""
        aspace = self.address_space(pid)
        out = b""
        while size > 0:
            t = aspace.translate(va)
            if t.pa is None:
                raise KeyError(f"{va:#x} is not mapped in process {pid}")
            chunk = min(size, paging.PAGE_SIZE - (va & 0xFFF))
            out += self.m.read_phys(t.pa, chunk)
            va, size = va + chunk, size - chunk
        return out

    def write(self, pid: int, va: int, data: bytes) -> None:
        """Write process memory through its own page tables.  Raises KeyError
        at a page not mapped in it (the pages before it are written)."""
        aspace = self.address_space(pid)
        while data:
            t = aspace.translate(va)
            if t.pa is None:
                raise KeyError(f"{va:#x} is not mapped in process {pid}")
            chunk = min(len(data), paging.PAGE_SIZE - (va & 0xFFF))
            self.m.write_phys(t.pa, data[:chunk])
            va, data = va + chunk, data[chunk:]

    def kernel_stack_of(self, pid: int) -> int:
        return self.process(pid).kstack_top
