"""``expect_fault``: stop where the kernel takes a page fault and check what
the CPU reported (decoding is :mod:`harness.decode.pagefault`'s)."""

from __future__ import annotations

from types import TracebackType

from harness.decode.pagefault import PageFault, mismatches
from harness.machine.machine import Machine


class expect_fault:
    """Stop at the kernel's page-fault entry and check the fault::

        with expect_fault(m, addr=0xC0100000, write=True, user=False, present=True) as f:
            m.call("agent_probe_write", 0xC0100000, 1)
        assert f.fault.kind == "protection"

    Where the kernel takes #PF and how the fault is read there come from the
    target profile (``page_fault_entry``, ``read_page_fault``); a target
    without them raises ConfigError naming the field.  The body must make the
    guest fault (an inferior call, or ``m.cont()``; or ``m.cont(wait=False)``,
    something that makes the guest fault, then ``m.wait_stopped()``).  At the
    stop, CR2, the error code and the faulting EIP are read as the profile says
    and compared; a missing or different fault raises
    AssertionError with the decoded details.  If the fault interrupted an
    inferior call, the call is then run to its end (the handler decides what
    happens: a fixup returns -EFAULT, a fatal fault panics); after ``m.cont()``
    the machine is left stopped at the handler's entry.
    """

    def __init__(self, machine: Machine, *, addr: int | None = None, present: bool | None = None,
                 write: bool | None = None, user: bool | None = None,
                 reserved: bool | None = None, fetch: bool | None = None,
                 kind: str | None = None) -> None:
        self.m = machine
        self.expected = dict(addr=addr, present=present, write=write, user=user,
                             reserved=reserved, fetch=fetch, kind=kind)
        self.fault: PageFault | None = None

    def __enter__(self) -> expect_fault:
        target = self.m.cfg.target
        entry = target.require("page_fault_entry", "expect_fault")
        self.read = target.require("read_page_fault", "expect_fault")
        self.entry = entry(self.m) if callable(entry) else entry
        self.m.last_stop = None
        self.breakpoint = self.m.break_at(self.entry)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        from harness.errors import CallStopped

        stop = exc.stop if isinstance(exc, CallStopped) else self.m.last_stop
        if exc is not None and not isinstance(exc, CallStopped):
            return False  # an unrelated error: let it through
        entry = self.m.symbol(self.entry) if isinstance(self.entry, str) else self.entry
        if stop is None or stop.addr != entry:
            self.m.delete_breakpoint(self.breakpoint)
            where = self.entry if isinstance(self.entry, str) else f"{entry:#x}"
            raise AssertionError(f"expected a page fault ({self._wanted()}); none reached "
                                 f"{where}" + (f" (stopped at {stop.addr:#x})" if stop else ""))
        self.fault = self.read(self.m)
        self.m.delete_breakpoint(self.breakpoint)
        problems = mismatches(self.fault, **self.expected)
        if isinstance(exc, CallStopped):
            self.m.cont()  # let the interrupted call finish; GDB stops after it
        if problems:
            raise AssertionError(f"{self.fault.describe()}: " + "; ".join(problems))
        return True

    def _wanted(self) -> str:
        return ", ".join(f"{k}={v:#x}" if k == "addr" else f"{k}={v}"
                         for k, v in self.expected.items() if v is not None) or "any"
