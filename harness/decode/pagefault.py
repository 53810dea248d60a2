"""Page faults as the CPU reports them: the #PF error code decoded, and the
records a kernel keeps of them (pure: no I/O, importable from GDB's Python).

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


def mismatches(fault: PageFault, **expected: int | bool | str | None) -> list[str]:
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
