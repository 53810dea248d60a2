"""Page faults: the #PF error code decoded, the kernel's fault records, and
``expect_fault``, which stops at the kernel's page-fault handler and checks
what the CPU reported.

Error code bits (Intel SDM vol. 3A, 4.7):  P (0: not present, 1: protection),
W/R (1: write), U/S (1: user mode), RSVD (reserved bit set in an entry),
I/D (instruction fetch, with NX or SMEP).
"""

from __future__ import annotations

from dataclasses import dataclass

ERR_PRESENT = 0x01
ERR_WRITE = 0x02
ERR_USER = 0x04
ERR_RSVD = 0x08
ERR_FETCH = 0x10

HANDLER = "page_fault_handler"


@dataclass(frozen=True)
class PageFault:
    """What the CPU reported for one #PF."""

    addr: int  # CR2
    err: int
    eip: int = 0
    cs: int = 0

    present = property(lambda self: bool(self.err & ERR_PRESENT))
    write = property(lambda self: bool(self.err & ERR_WRITE))
    user = property(lambda self: bool(self.err & ERR_USER))
    reserved = property(lambda self: bool(self.err & ERR_RSVD))
    fetch = property(lambda self: bool(self.err & ERR_FETCH))

    @property
    def kind(self) -> str:
        """The kernel's classification: not-present, protection or reserved-bit."""
        if self.reserved:
            return "reserved-bit"
        return "protection" if self.present else "not-present"

    @property
    def access(self) -> str:
        return "fetch" if self.fetch else "write" if self.write else "read"

    def describe(self) -> str:
        bits = [name for bit, name in ((ERR_PRESENT, "P"), (ERR_WRITE, "W"), (ERR_USER, "U"),
                                       (ERR_RSVD, "RSVD"), (ERR_FETCH, "I/D")) if self.err & bit]
        return (f"#PF at {self.addr:#010x} err={self.err:#x} [{' '.join(bits) or '-'}] "
                f"{self.kind}, {'user' if self.user else 'kernel'} {self.access}, "
                f"eip={self.eip:#010x}")


KINDS = ("not-present", "protection", "reserved-bit")
ACTIONS = ("resolved", "fixup", "kill", "panic")


@dataclass(frozen=True)
class FaultRecord:
    """One entry of the kernel's fault ring buffer (``fault_log``)."""

    seq: int
    fault: PageFault
    pid: int
    kind: str
    action: str
    reason: str


def enum_names(ptype_text: str, prefix: str) -> list[str]:
    """Names of a C enum from GDB's ``ptype enum X`` ("type = enum X {A, B}"),
    lower-cased, prefix dropped, '_' as '-': REASON_NULL_POINTER -> null-pointer."""
    body = ptype_text[ptype_text.index("{") + 1:ptype_text.rindex("}")]
    names = []
    for item in body.split(","):
        name = item.split("=")[0].strip()
        if name:
            names.append(name.removeprefix(prefix).lower().replace("_", "-"))
    return names


def mismatches(fault: PageFault, **expected) -> list[str]:
    """The expectations (addr, present, write, user, reserved, fetch, kind)
    that ``fault`` does not meet, described."""
    out = []
    for key, want in expected.items():
        if want is None:
            continue
        have = getattr(fault, key)
        if have != want:
            shown = (lambda v: f"{v:#x}") if key == "addr" else repr
            out.append(f"{key}: expected {shown(want)}, got {shown(have)}")
    return out


class expect_fault:
    """Stop at the kernel's page-fault handler and check the fault::

        with expect_fault(m, addr=0xC0100000, write=True, user=False, present=True) as f:
            m.call("agent_probe_write", 0xC0100000, 1)
        assert f.fault.kind == "protection"

    The body must make the guest fault (an inferior call, or ``m.cont()``).
    At the stop, CR2 and the error code the CPU pushed are read from the
    handler's trap frame and compared; a missing or different fault raises
    AssertionError with the decoded details.  If the fault interrupted an
    inferior call, the call is then run to its end (the handler decides what
    happens: a fixup returns -EFAULT, a fatal fault panics); after ``m.cont()``
    the machine is left stopped at the handler's entry.
    """

    def __init__(self, machine, *, addr: int | None = None, present: bool | None = None,
                 write: bool | None = None, user: bool | None = None,
                 reserved: bool | None = None, fetch: bool | None = None,
                 kind: str | None = None) -> None:
        self.m = machine
        self.expected = dict(addr=addr, present=present, write=write, user=user,
                             reserved=reserved, fetch=fetch, kind=kind)
        self.fault: PageFault | None = None

    def __enter__(self) -> expect_fault:
        self.m.last_stop = None
        self.breakpoint = self.m.break_at(HANDLER)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        from harness.errors import CallStopped

        stop = exc.stop if isinstance(exc, CallStopped) else self.m.last_stop
        if exc is not None and not isinstance(exc, CallStopped):
            return False  # an unrelated error: let it through
        handler = self.m.symbol(HANDLER)
        if stop is None or stop.addr != handler:
            self.m.delete_breakpoint(self.breakpoint)
            raise AssertionError(f"expected a page fault ({self._wanted()}); none reached "
                                 f"{HANDLER}" + (f" (stopped at {stop.addr:#x})" if stop else ""))
        self.fault = self._read_fault()
        self.m.delete_breakpoint(self.breakpoint)
        problems = mismatches(self.fault, **self.expected)
        if isinstance(exc, CallStopped):
            self.m.cont()  # let the interrupted call finish; GDB stops after it
        if problems:
            raise AssertionError(f"{self.fault.describe()}: " + "; ".join(problems))
        return True

    def _read_fault(self) -> PageFault:
        from harness.targets.mmverify.kernel import Kernel

        regs = self.m.registers("esp", "cr2")
        frame_addr = self.m.read_u32(regs["esp"] + 4)  # the handler's argument
        frame = Kernel(self.m).read_struct("trapframe", frame_addr)
        return PageFault(regs["cr2"], frame["err"], frame["eip"], frame["cs"])

    def _wanted(self) -> str:
        return ", ".join(f"{k}={v:#x}" if k == "addr" else f"{k}={v}"
                         for k, v in self.expected.items() if v is not None) or "any"
