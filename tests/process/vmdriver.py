"""Drives firmware/user/vmdriver.c one memory operation at a time, and reads
what the operation did from outside the process: its region list, limits and
counters from the kernel's process table, its PTEs through the walker, frame
reference counts from ``frame_table``, the PMM's free-frame count.

The program stops at ``checkpoint(step)``; :meth:`VmDriver.do` writes the next
operation into its ``request`` (through the process's own page tables) and
continues to the next checkpoint.  Nothing the program prints is believed."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from harness import CallStopped
from harness.machine.pool import READY_SNAPSHOT
from harness.targets.mmverify.processes import ProcessResult, Userland

PAGE = 4096

# kernel/mman.h and kernel/errno.h, written down (tests/expected.py's rule).
PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_FIXED_NOREPLACE = 0x100000
RLIMIT_AS_PAGES, RLIMIT_RESIDENT_PAGES, RLIMIT_MAPPINGS = 0, 1, 2
EPERM, ENOMEM, EACCES, EEXIST, EINVAL = 1, 12, 13, 17, 22
PRIVATE = MAP_PRIVATE | MAP_ANONYMOUS
SHARED = MAP_SHARED | MAP_ANONYMOUS
RW = PROT_READ | PROT_WRITE
PAGE_OWNED, PAGE_COW = 0x200, 0x800  # the VMM's software PTE bits (mm/vmm.h)
MMAP_AREA = (0x40000000, 0x80000000)  # where the kernel chooses (mm/mmap.h)
MMAP_BASE_SPAN = 0x20000000

# firmware/user/vmdriver.c's enum vm_op (VM_WAIT, 11, is the program's own: never sent)
OPS = {"exit": 0, "mmap": 1, "munmap": 2, "mprotect": 3, "write": 4, "read": 5,
       "getrlimit": 6, "setrlimit": 7, "sbrk": 8, "shm": 9, "fork": 10,
       "touch": 12, "pageout": 13, "open": 14}


@dataclass(frozen=True)
class Region:
    start: int
    end: int
    prot: int
    flags: int


class ProcessEnded(Exception):
    """The operation ended the process (a fault killed it); ``result`` says how."""

    def __init__(self, result: ProcessResult) -> None:
        super().__init__(f"pid {result.pid} ended: {result.reason} at {result.addr:#x}")
        self.result = result


def signed(value: int) -> int:
    """A system call's result: a negative errno, or the value (an address)."""
    return value - (1 << 32) if value >= 0xFFFFF001 else value


def from_ready(userland: Userland) -> None:
    """Puts the (pooled) machine back at its kernel_ready snapshot.  A property
    test calls it at the start of each example, so every example starts from
    the same machine: when one fails, Hypothesis's replay of it fails the same
    way (and reports that failure) instead of tripping over what the first
    run left behind (live processes, a call to sched_run not finished)."""
    userland.m.restore_snapshot(READY_SNAPSHOT)
    userland.start = userland.m.mark()  # pids start again at 1


class Family:
    """The vmdriver processes of one fork tree on a machine, and which of them
    (if any) is stopped at its checkpoint: only that one may be given a
    request, the others go round yielding (firmware/user/vmdriver.c)."""

    def __init__(self) -> None:
        self.members: dict[int, VmDriver] = {}  # live ones, by pid
        self.stopped: int | None = None


class VmDriver:
    """One vmdriver process on a machine whose modules include it: spawned,
    or (with ``pid`` and ``family``) a child one of them forked."""

    def __init__(self, userland: Userland, pid: int | None = None,
                 family: Family | None = None) -> None:
        self.u, self.m, self.k = userland, userland.m, userland.k
        self.request = userland.symbol("vmdriver", "request")
        self.checkpoint = userland.symbol("vmdriver", "checkpoint")
        self.ended: ProcessResult | None = None
        self.step = 0  # request.step at this process's last stop
        self.family = family or Family()
        if pid is not None:  # forked: it reaches its checkpoint when first asked
            self.pid = pid
            self.family.members[pid] = self
            return
        self.pid = userland.spawn("vmdriver")
        self.family.members[self.pid] = self
        self.m.break_at(self.checkpoint)
        try:
            self.m.call("sched_run")
        except CallStopped as stopped:
            assert stopped.stop.addr == self.checkpoint
        else:
            raise AssertionError("vmdriver never reached its first checkpoint")
        self.family.stopped = self.pid
        self.step = self._step()

    def _step(self) -> int:
        """The checkpoint this process last reached (its request.step)."""
        return struct.unpack("<I", self.u.read(self.pid, self.request + 28, 4))[0]

    def _seen(self, pid: int | None) -> None:
        """Another member stopped at its checkpoint: note the step it is at, so
        that a later report of that same checkpoint is known for one."""
        member = self.family.members.get(pid) if pid is not None else None
        if member is not None and member is not self:
            member.step = member._step()

    def _stopped_pid(self) -> int | None:
        """The process whose address space is loaded (the one at the checkpoint)."""
        here = self.m.registers("cr3")["cr3"]
        return next((p.pid for p in self.u.processes() if p.cr3 == here), None)

    def _to_checkpoint(self) -> bool:
        """Runs until this process stops at its checkpoint (other processes of
        the family stopping there on their way are let go on); False when it
        ended instead."""
        while True:
            stop = self.m.cont()
            if stop.addr != self.checkpoint:  # sched_run returned: no process is left
                self.family.stopped = None
                return False
            self.family.stopped = self._stopped_pid()
            if self.family.stopped == self.pid:
                step = self._step()
                if step == self.step:  # the same checkpoint reported again: not there yet
                    continue
                self.step = step
                return True
            self._seen(self.family.stopped)
            if all(p.pid != self.pid for p in self.u.processes()):
                return False

    def _gone(self) -> ProcessEnded:
        """The process has ended: how, and it leaves the family."""
        if self.family.stopped is None:
            self.m.delete_breakpoints()
        self.ended = self.u.history()[self.pid]
        del self.family.members[self.pid]
        return ProcessEnded(self.ended)

    def do(self, op: str, addr: int = 0, length: int = 0, prot: int = 0, flags: int = 0,
           value: int = 0) -> int:
        """Performs one operation; its result (see :func:`signed`).  Raises
        ProcessEnded when it ended the process instead."""
        assert self.ended is None, "the process has ended"
        if self.family.stopped != self.pid and not self._to_checkpoint():
            raise self._gone()
        words = (OPS[op], addr, length, prot, flags, value & 0xFFFFFFFF)
        self.u.write(self.pid, self.request, struct.pack("<6I", *words))
        if not self._to_checkpoint():
            raise self._gone()
        return signed(struct.unpack("<I", self.u.read(self.pid, self.request + 24, 4))[0])

    def fork(self) -> VmDriver:
        """fork() in this process; the child's driver."""
        child = self.do("fork")
        assert child > 0, f"fork returned {child}"
        return VmDriver(self.u, child, self.family)

    def finish(self, status: int = 0) -> ProcessResult:
        """Lets the program exit with ``status``; how it ended."""
        if self.ended is not None:
            return self.ended
        if self.family.stopped != self.pid and not self._to_checkpoint():
            return self._gone().result  # it ended on its way there
        self.u.write(self.pid, self.request, struct.pack("<6I", OPS["exit"], 0, 0, 0, 0, status))
        if len(self.family.members) == 1:
            self.m.delete_breakpoints()
            self.m.cont()  # sched_run returns
            self.family.stopped = None
        else:  # another member comes to its checkpoint next
            while True:
                stop = self.m.cont()
                assert stop.addr == self.checkpoint
                self.family.stopped = self._stopped_pid()
                if self.family.stopped != self.pid:
                    break
                # This process's checkpoint reported again (as in _to_checkpoint,
                # seen under load): it has not read the request yet.
                assert self._step() == self.step, f"pid {self.pid} went on instead of exiting"
            self._seen(self.family.stopped)
        self.ended = self.u.history()[self.pid]
        del self.family.members[self.pid]
        return self.ended

    def finish_all(self) -> None:
        """Ends every live member of the family, children before this one."""
        for other in [d for d in self.family.members.values() if d is not self]:
            other.finish()
        self.finish()

    # -- what the kernel holds, read from guest RAM -----------------------------------

    def process(self) -> dict:
        """The process table entry's integer fields, its address space's
        among them (Kernel.process_table)."""
        for p in self.k.process_table():
            if p["pid"] == self.pid:
                return p
        raise KeyError(f"no live process {self.pid}")

    def regions(self) -> list[Region]:
        """The region list, exactly as the kernel keeps it."""
        return [Region(*r) for r in self.process()["regions"]]

    def limits(self) -> tuple[int, int, int]:
        """(as_pages, resident_pages, mappings) from the process table."""
        return self.process()["limits"]

    def ptes(self, start: int = 0x1000, end: int = 0xC0000000) -> dict[int, tuple[int, int]]:
        """Every present user page in [start, end): va -> (frame, low PTE bits)."""
        aspace = self.u.address_space(self.pid)
        return {m.va: (m.pa, m.flags) for m in aspace.mappings(start, end)}

    def protnone(self, start: int = 0x1000, end: int = 0xC0000000) -> dict[int, tuple[int, int]]:
        """Every PROT_NONE entry (a kept, not-present page) in [start, end):
        va -> (frame, low PTE bits)."""
        aspace = self.u.address_space(self.pid)
        return {m.va: (m.pa, m.flags) for m in aspace.protnone_pages(start, end)}

    def frame_refs(self, pa: int) -> tuple[int, int]:
        """(refs, flags) of frame_table[pa >> 12], read from guest RAM."""
        info = self.k.frame_table()[pa >> 12]
        return info.refs, info.flags

    def free_frames(self) -> int:
        return self.k.pmm_stats()["free_frames"]

    def state(self) -> tuple:
        """Everything a refused call must leave as it was."""
        p = self.process()
        return (self.regions(), self.ptes(), self.free_frames(), self.limits(), p["pages"],
                p["reserved_pages"], p["brk"])

    def read_page(self, va: int) -> bytes:
        """A page's contents through the process's page tables (the walker)."""
        return self.u.read(self.pid, va, PAGE)
