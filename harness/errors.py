"""The harness's exceptions.

Everything the harness raises on purpose derives from :class:`HarnessError`.
Errors about a running machine carry the tail of the serial log and of the
GDB/MI transcript, so a failing test shows what the guest and GDB last said
without anyone having to open the run directory.

    HarnessError
    ├── ToolMissingError      a binary (qemu-system-i386, gdb, cmake) is not installed
    ├── BuildError            the firmware did not build
    ├── ConfigError           a Machine option is invalid (bad memory size, missing module)
    ├── ArgumentError         an argument the harness or the kernel cannot take (also a ValueError)
    │   └── MemoryRangeError  an address range outside guest memory (addr, size, valid range)
    └── MachineError          something went wrong with a running machine
        ├── BootError         QEMU or GDB did not come up
        ├── GdbError          GDB answered ^error (or died)
        │   └── CallStopped   an inferior call hit a breakpoint before returning
        ├── GuestTimeout      the guest did not do what was awaited in time
        │   └── HungGuest     the kernel stopped making progress (where it spins)
        ├── TargetStateError  a call made in the wrong state (running, or broken)
        ├── QmpError          a QMP / monitor command failed
        └── MachineDied       QEMU exited (guest_exit tells how)
            └── GuestPanic    the kernel panicked (isa-debug-exit panic status)
"""

from __future__ import annotations

from typing import Any


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class ToolMissingError(HarnessError):
    """A required program is not installed; the message says how to install it."""


class BuildError(HarnessError):
    """CMake configure or build failed; the message holds the tail of its output."""


class ConfigError(HarnessError):
    """An invalid machine configuration (memory size, kernel or module path...)."""


class ArgumentError(HarnessError, ValueError):
    """An argument the harness, or the kernel behind it, cannot take (a size
    out of range, a string longer than the kernel's buffer).  Raised before
    anything is sent to the machine, so nothing in it changed."""


class MemoryRangeError(ArgumentError):
    """A memory access outside what exists: ``addr`` and ``size`` as given,
    ``valid`` the range [start, end) the access must fit in, and what it is."""

    def __init__(self, what: str, addr: int, size: int, valid: tuple[int, int],
                 valid_name: str, why: str) -> None:
        self.addr = addr
        self.size = size
        self.valid = valid
        super().__init__(f"{what} of {size} bytes at {addr:#x}: {why}; the valid range is "
                         f"[{valid[0]:#x}, {valid[1]:#x}), {valid_name}")


class MachineError(HarnessError):
    """A failure involving a running machine.

    ``serial_tail`` and ``mi_tail`` are the last lines of the serial console and
    of the GDB/MI transcript when the error was raised; both are appended to the
    message so a test report shows them.
    """

    def __init__(self, message: str, *, serial_tail: str = "", mi_tail: str = "") -> None:
        self.reason = message
        self.serial_tail = serial_tail
        self.mi_tail = mi_tail
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.reason]
        if self.serial_tail:
            parts.append("--- serial (tail) ---\n" + self.serial_tail.rstrip())
        if self.mi_tail:
            parts.append("--- gdb/mi (tail) ---\n" + self.mi_tail.rstrip())
        return "\n".join(parts)


class BootError(MachineError):
    """QEMU or GDB failed to start, or the guest never reached its first stop."""


class GdbError(MachineError):
    """GDB reported an error for a command, or exited."""


class GuestTimeout(MachineError):
    """An awaited event (a stop, a serial pattern, a result) did not come in time."""


class HungGuest(GuestTimeout):
    """The kernel made no progress for ``stalled`` seconds while the harness
    waited for it: every look found the CPU in kernel mode, with no trap taken,
    no byte of output and no change to the kernel's data
    (harness/machine/progress.py).  ``eip`` and ``where`` (its symbol) say
    where the CPU was at the last look, ``backtrace`` GDB's frames there."""

    def __init__(self, message: str, *, eip: int, where: str, backtrace: list[str],
                 stalled: float, serial_tail: str = "", mi_tail: str = "") -> None:
        self.eip = eip
        self.where = where
        self.backtrace = backtrace
        self.stalled = stalled
        super().__init__(message, serial_tail=serial_tail, mi_tail=mi_tail)

    def __str__(self) -> str:
        head, _, tails = super().__str__().partition("\n")
        frames = "".join(f"\n  {frame}" for frame in self.backtrace)
        return head + "\nbacktrace:" + frames + ("\n" + tails if tails else "")


class CallStopped(GdbError):
    """An inferior call stopped at a breakpoint before returning; ``stop`` is the
    stop event.  Continuing lets the call finish (GDB then stops silently)."""

    # ``stop`` is a harness.transport.gdbmi.StopEvent, a layer above this module.
    def __init__(self, message: str, *, stop: Any, serial_tail: str = "",
                 mi_tail: str = "") -> None:
        self.stop = stop
        super().__init__(message, serial_tail=serial_tail, mi_tail=mi_tail)


class TargetStateError(MachineError):
    """A method was called in a state that does not allow it."""


class QmpError(MachineError):
    """A QMP command or a human-monitor command failed."""


class MachineDied(MachineError):
    """QEMU exited while the harness expected it to run.

    ``exit_status`` is QEMU's exit status; ``guest_exit`` names it when it is one
    the firmware chose through isa-debug-exit ("poweroff", "panic").
    """

    def __init__(self, message: str, *, exit_status: int | None, guest_exit: str | None,
                 serial_tail: str = "", mi_tail: str = "") -> None:
        self.exit_status = exit_status
        self.guest_exit = guest_exit
        super().__init__(message, serial_tail=serial_tail, mi_tail=mi_tail)


class GuestPanic(MachineDied):
    """The kernel panicked; ``panic`` is its PANIC record (a dict) when one was seen."""

    def __init__(self, message: str, *, exit_status: int | None, panic: dict[str, str] | None,
                 serial_tail: str = "", mi_tail: str = "") -> None:
        self.panic = panic
        super().__init__(message, exit_status=exit_status, guest_exit="panic",
                         serial_tail=serial_tail, mi_tail=mi_tail)
