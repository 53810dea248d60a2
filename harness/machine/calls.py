"""Calling kernel functions from the harness, and evaluating expressions.

Part of :class:`harness.machine.machine.Machine` (a mixin: it relies on the machine's
GDB connection and state checks).
"""

from __future__ import annotations

from harness import timeouts
from harness.decode.mi_text import mi_quote, parse_gdb_int
from harness.errors import CallStopped, GuestTimeout, HarnessError, TargetStateError
from harness.transport.gdbmi import StopEvent

# What a call saves and, if it has to be abandoned, puts back: everything the
# callee may have changed on its way, segment selectors included (a callee
# that ran a process was stopped with user selectors, hence CPL 3) and CR3.
# QEMU reloads a selector's descriptor from the GDT when GDB writes it.
CALL_SAVED = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags",
              "cs", "ss", "ds", "es", "fs", "gs", "cr3")
SIGNED_TYPES = ("int", "long", "int32_t", "long int", "signed char", "short", "int8_t",
                "int16_t", "ssize_t")


class CallsMixin:
    # -- inferior calls and expressions ------------------------------------------------

    def evaluate(self, expression: str, timeout: float | None = None) -> str:
        """Evaluate a C expression in GDB; returns GDB's text of the value."""
        gdb = self._require(f"evaluate {expression}")
        return gdb.command(f"-data-evaluate-expression {mi_quote(expression)}",
                           timeout).payload.get("value", "")

    def call(self, function: str | int, *args: int, timeout: float | None = None) -> int | None:
        """Call a kernel function with integer arguments; returns its result
        (signed if the function returns a signed type, None for void).

        How depends on the target profile's ``call_method``: "gdb" is GDB's
        inferior call; "gate" goes through the kernel's own call gate
        (``TargetProfile.call_gate``) rather than GDB's inferior-call
        machinery, which restores every register after the call, CR3 included:
        through the gate a callee that switches address spaces leaves them
        switched, as a call from kernel code would.  EIP and ESP are
        restored.  A breakpoint inside the callee raises CallStopped;
        ``cont()`` later finishes the call.  A call that does not return in
        time is interrupted, every register in CALL_SAVED put back as it was
        before the call (and checked), and GuestTimeout raised; if they cannot
        be put back, the machine is marked broken (the pool replaces it).
        Raises ConfigError on a target without a call method."""
        method = self.cfg.target.require("call_method", f"machine.call({function!r})")
        self._require(f"call {function}")
        if method == "gdb":
            return self._gdb_call(function, args, timeout)
        if self._pending_call is not None:
            raise TargetStateError(f"cannot call {function}: the call to "
                                   f"{self._pending_call[1]} has not finished (cont() ends it)")
        regs = self.registers(*CALL_SAVED)
        if regs["cs"] & 3:
            raise TargetStateError(f"cannot call {function}: the CPU is in user mode "
                                   f"(cs={regs['cs']:#x}); stop it in the kernel first")
        name = function if isinstance(function, str) else f"{function:#x}"
        address = self.symbol(function) if isinstance(function, str) else function
        frame = [address, 4 * len(args), *(a & 0xFFFFFFFF for a in args), regs["eip"]]
        esp = regs["esp"] - 4 * len(frame)
        self._ensure_call_breakpoint()
        self.write(esp, b"".join(v.to_bytes(4, "little") for v in frame))
        self.write_registers(esp=esp, eip=self.symbol(self.cfg.target.call_gate.trampoline))
        self._pending_call = (regs, name)
        timeout = timeouts.scaled(timeouts.RUN) if timeout is None else timeout
        try:
            stop = self.cont(timeout=timeout)
        except GuestTimeout as exc:
            self._abandon_call()
            outcome = (f"the machine is broken: {self.broken}" if self.broken else
                       "it was interrupted and every register restored")
            raise GuestTimeout(f"{name}() did not return within {timeout:.1f} s; {outcome}",
                               serial_tail=exc.serial_tail, mi_tail=self._mi_tail()) from None
        if self._pending_call is not None:  # stopped somewhere inside the callee
            raise CallStopped(f"{name}() stopped at {stop.addr and hex(stop.addr)} "
                              f"({stop.reason}) before returning", stop=stop,
                              serial_tail=self._serial_tail(), mi_tail=self._mi_tail())
        return self._typed_result(name, self.last_call_result)

    def _gdb_call(self, function: str | int, args: tuple[int, ...],
                  timeout: float | None) -> int | None:
        """GDB's own inferior call: GDB restores every register afterwards."""
        callee = function if isinstance(function, str) else f"((unsigned int (*)()){function:#x})"
        value = self.evaluate(f"{callee}({', '.join(str(a & 0xFFFFFFFF) for a in args)})",
                              timeout)
        return None if value in ("", "void") else parse_gdb_int(value)

    def _ensure_call_breakpoint(self) -> None:
        if self._call_breakpoint is None:
            self._call_breakpoint = self.break_at(self.cfg.target.call_gate.done)

    def _after_stop(self, stop: StopEvent) -> None:
        """A stop at the gate's ``done`` ends the pending call: read its result
        and put EIP/ESP back as they were before it."""
        if self._pending_call is None:
            return
        gate = self.cfg.target.call_gate
        if stop.addr != self.symbol(gate.done):
            return
        regs, _ = self._pending_call
        self._pending_call = None
        self.write_registers(eip=regs["eip"], esp=regs["esp"])
        self.last_call_result = self.read_u32(self.symbol(gate.result))

    def _abandon_call(self) -> None:
        """Put back every register saved before the pending call, and read
        them back from QEMU (not from GDB's cache of what it wrote); when that
        fails, or they differ, mark the machine broken."""
        regs, name = self._pending_call
        self._pending_call = None
        if self.broken is not None:
            return
        try:
            self.write_registers(**regs)
            self.gdb.console("maintenance flush register-cache")
            now = self.registers(*regs)
        except HarnessError as exc:
            self.broken = (f"the registers from before {name}() could not be put back: "
                           f"{getattr(exc, 'reason', exc)}")
            return
        wrong = [f"{r}={now.get(r, 0):#x} (was {v:#x})" for r, v in regs.items()
                 if now.get(r) != v]
        if wrong:
            self.broken = (f"the registers from before {name}() did not take: "
                           + ", ".join(wrong))

    def _typed_result(self, function: str, value: int) -> int | None:
        """Interpret the raw EAX by the function's declared return type."""
        if function not in self._return_types:
            kind = "unsigned"
            if not function.startswith("0x"):
                text = self.gdb.console(f"whatis {function}")
                ret = text.partition("=")[2].split("(")[0].strip()
                if ret == "void":
                    kind = "void"
                elif ret in SIGNED_TYPES:
                    kind = "signed"
            self._return_types[function] = kind
        kind = self._return_types[function]
        if kind == "void":
            return None
        if kind == "signed" and value & 0x80000000:
            return value - (1 << 32)
        return value

    def symbol(self, name: str) -> int:
        """Address of a kernel symbol (cached)."""
        if name not in self._symbols:
            self._symbols[name] = parse_gdb_int(self.evaluate(f"(unsigned int)&{name}"))
        return self._symbols[name]

