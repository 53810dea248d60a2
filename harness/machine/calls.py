"""Calling kernel functions from the harness, and evaluating expressions.

:class:`Calls` does the work behind :class:`harness.machine.machine.Machine`'s
``call``, ``evaluate`` and ``symbol`` (which document them) and keeps the
state of a call in progress; it reaches the machine only through
:class:`CallHost`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from harness import timeouts
from harness.decode.mi_text import mi_quote, parse_gdb_int
from harness.decode.returns import ReturnType, return_type
from harness.errors import (
    ArgumentError,
    CallStopped,
    ConfigError,
    GdbError,
    GuestTimeout,
    HarnessError,
    HungGuest,
    TargetStateError,
)
from harness.machine.elf_symbols import exact_symbols
from harness.machine.qemu import QemuConfig
from harness.machine.state import BOOT_CPU_THREAD
from harness.machine.target import CallGate
from harness.transport.gdbmi import MiClient, StopEvent

# What a call saves and, if it has to be abandoned, puts back: everything the
# callee may have changed on its way, segment selectors included (a callee
# that ran a process was stopped with user selectors, hence CPL 3) and CR3.
# QEMU reloads a selector's descriptor from the GDT when GDB writes it.
CALL_SAVED = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags",
              "cs", "ss", "ds", "es", "fs", "gs", "cr3")
class CallHost(Protocol):
    """What :class:`Calls` needs from its machine: its configuration, the
    run control and the guest's registers and memory."""

    broken: str | None

    @property
    def cfg(self) -> QemuConfig: ...

    def require_gdb(self, what: str) -> MiClient: ...

    def tails(self) -> dict[str, str]: ...

    def cont(self, *, timeout: float | None = None) -> StopEvent: ...

    def break_at(self, where: str | int, *, hardware: bool = False, temporary: bool = False,
                 condition: str | None = None, cpu: int | None = None) -> int: ...

    def registers(self, *names: str) -> dict[str, int]: ...

    def write_registers(self, **values: int) -> None: ...

    def write(self, addr: int, data: bytes) -> None: ...

    def read_u32(self, addr: int) -> int: ...


class Watchdog(Protocol):
    """Something that looks at the stopped guest every ``period`` seconds
    while a call runs, and raises (HungGuest) to end the call
    (harness.machine.progress.ProgressWatch)."""

    period: float

    def look(self) -> None: ...


@dataclass(frozen=True)
class PendingCall:
    """A call through the gate that has not returned: the registers from
    before it, and the callee's name."""

    saved: dict[str, int]
    name: str


class Calls:
    """Kernel calls and expressions on ``host``; keeps the call in progress,
    the breakpoint that ends it and the caches of symbols and return types."""

    def __init__(self, host: CallHost) -> None:
        self.host = host
        self.pending: PendingCall | None = None
        self.last_result = 0
        self._breakpoint: int | None = None
        self._return_types: dict[str, ReturnType] = {}
        self._symbols: dict[str, int] = {}
        self.watchdog: Watchdog | None = None  # looks at calls through the gate while they run

    def evaluate(self, expression: str, timeout: float | None = None) -> str:
        gdb = self.host.require_gdb(f"evaluate {expression}")
        # On CPU 0: GDB reads the expression's memory (and runs an inferior
        # call) on the selected thread, which a stop elsewhere may have moved.
        value = gdb.command(f"-data-evaluate-expression --thread {BOOT_CPU_THREAD} "
                            f"{mi_quote(expression)}", timeout).payload.get("value", "")
        return str(value)

    def symbol(self, name: str) -> int:
        """From the symbol file's symbol table when it names ``name`` exactly
        (GDB may give a GCC clone's address: harness.machine.elf_symbols),
        else GDB's answer (an expression such as ``'file.c'::name``)."""
        if name not in self._symbols:
            symbol_file = self.host.cfg.target.symbol_file
            exact = exact_symbols(symbol_file).get(name) if symbol_file is not None else None
            self._symbols[name] = exact if exact is not None else \
                parse_gdb_int(self.evaluate(f"(unsigned int)&{name}"))
        return self._symbols[name]

    def call(self, function: str | int, args: tuple[int, ...],
             timeout: float | None = None) -> int | None:
        host = self.host
        method = host.cfg.target.require("call_method", f"machine.call({function!r})")
        host.require_gdb(f"call {function}")
        if method == "gdb":
            return self._gdb_call(function, args, timeout)
        if self.pending is not None:
            raise TargetStateError(f"cannot call {function}: the call to {self.pending.name} has "
                                   "not finished (cont() ends it)", **host.tails())
        regs = host.registers(*CALL_SAVED)
        if regs["cs"] & 3:
            raise TargetStateError(f"cannot call {function}: the CPU is in user mode "
                                   f"(cs={regs['cs']:#x}); stop it in the kernel first",
                                   **host.tails())
        gate = self._gate()
        name = function if isinstance(function, str) else f"{function:#x}"
        address = self.symbol(function) if isinstance(function, str) else function
        frame = [address, 4 * len(args), *(a & 0xFFFFFFFF for a in args), regs["eip"]]
        esp = regs["esp"] - 4 * len(frame)
        self.ensure_breakpoint()
        host.write(esp, b"".join(v.to_bytes(4, "little") for v in frame))
        host.write_registers(esp=esp, eip=self.symbol(gate.trampoline))
        self.pending = PendingCall(regs, name)
        timeout = timeouts.scaled(timeouts.RUN) if timeout is None else timeout
        try:
            stop = self._run(timeout)
        except GuestTimeout as exc:
            self._abandon()
            outcome = (f"the machine is broken: {host.broken}" if host.broken else
                       "it was interrupted and every register restored")
            if isinstance(exc, HungGuest):
                raise HungGuest(f"{name}() did not return: {exc.reason}; {outcome}",
                                eip=exc.eip, where=exc.where, backtrace=exc.backtrace,
                                stalled=exc.stalled, serial_tail=exc.serial_tail,
                                mi_tail=host.tails()["mi_tail"]) from None
            raise GuestTimeout(f"{name}() did not return within {timeout:.1f} s; {outcome}",
                               serial_tail=exc.serial_tail,
                               mi_tail=host.tails()["mi_tail"]) from None
        if self.pending is not None:  # stopped somewhere inside the callee
            raise CallStopped(f"{name}() stopped at {stop.addr and hex(stop.addr)} "
                              f"({stop.reason}) before returning", stop=stop, **host.tails())
        return self._typed_result(name, self.last_result)

    def _run(self, timeout: float) -> StopEvent:
        """Let the pending call run until it stops, for at most ``timeout``
        seconds.  With a watchdog, the guest is interrupted every
        ``watchdog.period`` seconds for it to look (it may raise HungGuest)
        and then resumed.  Raises GuestTimeout, with the guest stopped."""
        host, watchdog = self.host, self.watchdog
        if watchdog is None:
            return host.cont(timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                return host.cont(timeout=max(0.0, min(watchdog.period, remaining)))
            except GuestTimeout:
                if host.broken is not None or time.monotonic() >= deadline:
                    raise
            # Interrupted; the stop that ends the call may have come just
            # before the interrupt, which then took it: finish the call.
            eip = host.registers("eip")["eip"]
            if eip == self.symbol(self._gate().done):
                stop = StopEvent("breakpoint-hit", {"frame": {"addr": f"{eip:#x}"}})
                self.after_stop(stop)
                return stop
            watchdog.look()

    def _gdb_call(self, function: str | int, args: tuple[int, ...],
                  timeout: float | None) -> int | None:
        """GDB's own inferior call: GDB restores every register afterwards."""
        callee = function if isinstance(function, str) else f"((unsigned int (*)()){function:#x})"
        value = self.evaluate(f"{callee}({', '.join(str(a & 0xFFFFFFFF) for a in args)})",
                              timeout)
        return None if value in ("", "void") else parse_gdb_int(value)

    def ensure_breakpoint(self) -> None:
        """Set the breakpoint at the gate's ``done`` unless it is set.  Only
        CPU 0's arrival there ends the call: the call runs on CPU 0 (its
        registers and stack are CPU 0's), and another CPU passing through
        the gate is not this call returning."""
        if self._breakpoint is None:
            self._breakpoint = self.host.break_at(self._gate().done, cpu=0)

    def breakpoints_deleted(self) -> None:
        """Every breakpoint was deleted: put back the one a pending call needs."""
        self._breakpoint = None
        if self.pending is not None:
            self.ensure_breakpoint()

    def forget(self) -> None:
        """The guest was restored from a snapshot: no call is in progress and
        no breakpoint is set."""
        self._breakpoint = None
        self.pending = None

    def after_stop(self, stop: StopEvent) -> None:
        """A stop at the gate's ``done`` ends the pending call: read its result
        and put EIP/ESP back as they were before it."""
        if self.pending is None:
            return
        gate = self._gate()
        if stop.addr != self.symbol(gate.done) or stop.cpu not in (0, None):
            return  # another CPU passing through the gate is not this call returning
        saved = self.pending.saved
        self.pending = None
        self.host.write_registers(eip=saved["eip"], esp=saved["esp"])
        self.last_result = self.host.read_u32(self.symbol(gate.result))

    def _gate(self) -> CallGate:
        target = self.host.cfg.target
        if target.call_gate is None:  # TargetProfile.validate() makes "gate" need one
            raise ConfigError(f"target {target.name!r} has no call_gate: machine.call goes "
                              "through a call gate only when call_method is 'gate'")
        return target.call_gate

    def _abandon(self) -> None:
        """Put back every register saved before the pending call, and read
        them back from QEMU (not from GDB's cache of what it wrote); when that
        fails, or they differ, mark the machine broken."""
        host, pending = self.host, self.pending
        self.pending = None
        if pending is None or host.broken is not None:
            return
        regs = pending.saved
        try:
            host.write_registers(**regs)
            host.require_gdb("put the registers back").console("maintenance flush register-cache")
            now = host.registers(*regs)
        except HarnessError as exc:
            host.broken = (f"the registers from before {pending.name}() could not be put back: "
                           f"{getattr(exc, 'reason', exc)}")
            return
        wrong = [f"{r}={now.get(r, 0):#x} (was {v:#x})" for r, v in regs.items()
                 if now.get(r) != v]
        if wrong:
            host.broken = (f"the registers from before {pending.name}() did not take: "
                           + ", ".join(wrong))

    def call_value(self, function: str | int, args: tuple[int, ...],
                   timeout: float | None = None) -> int:
        name = function if isinstance(function, str) else f"{function:#x}"
        if self.return_kind(name) == "void":
            raise ArgumentError(f"{name}() returns void: use machine.call() for it")
        value = self.call(function, args, timeout)
        if value is None:  # a "gdb" call_method whose GDB printed no value
            raise GdbError(f"{name}() returned no value", **self.host.tails())
        return value

    def return_kind(self, function: str) -> str:
        """How ``function`` returns (cached): "void", "signed" or "unsigned"
        (an address, "0x...", is "unsigned")."""
        return self._return_type(function).kind

    def _return_type(self, function: str) -> ReturnType:
        if function not in self._return_types:
            declared = "unsigned int"
            if not function.startswith("0x"):
                text = self.host.require_gdb(f"read the type of {function}").console(
                    f"whatis {function}")
                declared = text.partition("=")[2].split("(")[0]
            self._return_types[function] = return_type(declared)
        return self._return_types[function]

    def _typed_result(self, function: str, value: int) -> int | None:
        """Interpret the raw EAX by the function's declared return type."""
        return self._return_type(function).value(value)
