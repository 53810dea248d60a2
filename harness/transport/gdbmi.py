"""A synchronous GDB/MI client on pygdbmi's parser.

Commands are written as ``TOKEN-command`` lines and the client reads GDB's
output until the result record carrying that token arrives; nothing waits on a
timer, so a command costs what GDB takes to answer (about 0.2 ms for a memory
read here).  Asynchronous ``*stopped`` records are queued as :class:`StopEvent`
for :meth:`MiClient.wait_stopped`.

While it waits, the client also services other file descriptors registered
with :meth:`MiClient.watch` (the serial console, a pidfd of QEMU), so the
guest's output is drained and QEMU's death is noticed at once rather than at
the end of a timeout.

GDB answers commands one at a time, in order, so a command that gets no
answer in time would delay every later one.  The client therefore interrupts
GDB (SIGINT makes it give the command up) and drains to the lost command's
result before raising; if even that does not come, the client is ``broken``
and refuses further commands, and its owner replaces the machine.
"""

from __future__ import annotations

import collections
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pygdbmi.gdbmiparser import parse_response

from harness import timeouts
from harness.decode.mi_text import mi_quote, parse_simple_result
from harness.errors import GdbError, GuestTimeout, MachineError, TargetStateError
from harness.transport import procutil

ErrorT = TypeVar("ErrorT", bound=MachineError)

@dataclass
class MiResult:
    """A result record: ``message`` is done/running/connected/exit; ``payload``
    its fields; ``console`` the CLI output GDB printed for the command."""

    message: str
    payload: dict[str, Any] = field(default_factory=dict)
    console: str = ""


@dataclass
class StopEvent:
    """A ``*stopped`` record: why the target stopped, and where.  ``cpu`` is
    the vCPU that stopped, filled in by the machine, which knows which vCPU
    each GDB thread is (None until then, or when the record names none)."""

    reason: str
    payload: dict[str, Any] = field(default_factory=dict)
    cpu: int | None = None

    @property
    def thread(self) -> int | None:
        """GDB's id of the thread that stopped (the record's thread-id)."""
        thread = self.payload.get("thread-id")
        return int(thread) if isinstance(thread, str) and thread.isdigit() else None

    @property
    def frame(self) -> dict[str, Any]:
        return self.payload.get("frame", {})

    @property
    def addr(self) -> int | None:
        addr = self.frame.get("addr")
        return int(addr, 16) if addr else None

    @property
    def func(self) -> str | None:
        return self.frame.get("func")


class MiClient:
    """One GDB process in MI mode.  Not thread-safe: one caller at a time."""

    def __init__(self, argv: list[str], *, log_dir: Path, tail_lines: int = 300) -> None:
        self._argv = argv
        self._log_dir = log_dir
        self._proc: subprocess.Popen | None = None
        self._out_fd = -1
        self._buf = b""
        self._token = 0
        self._results: dict[int, MiResult] = {}
        self._stream: list[str] = []
        self._stops: collections.deque[StopEvent] = collections.deque()
        self._watches: dict[int, Callable[[], object]] = {}
        self._tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self._log: Any = None
        self.running = False
        self.broken: str | None = None  # why GDB can no longer be trusted to answer
        # Set by the owner so errors can show the guest's side too, and so a
        # GDB error caused by the target dying is reported as that death.
        self.serial_tail: Callable[[], str] = lambda: ""
        self.check_target: Callable[[str], None] = lambda message: None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        self._log = open(self._log_dir / "gdb-mi.log", "w", buffering=1 << 16)
        stderr = open(self._log_dir / "gdb-stderr.log", "wb")
        try:
            self._proc = procutil.spawn(self._argv, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=stderr)
        finally:
            stderr.close()
        assert self._proc.stdout is not None  # stdout=PIPE: for the type checker
        self._out_fd = self._proc.stdout.fileno()

    def raw_fds(self) -> tuple[int, int]:
        """GDB's stdin and stdout descriptors, for the benchmark's bare-loop
        floor (bypassing this client entirely).  Raises TargetStateError
        before start()."""
        if self._proc is None or self._proc.stdin is None:
            raise TargetStateError("cannot give GDB's descriptors: it is not started (start() "
                                   "it first)")
        return self._proc.stdin.fileno(), self._out_fd

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        """GDB runs and its answers are in step with the commands."""
        return self._proc is not None and self._proc.poll() is None and self.broken is None

    def close(self, *, kill: bool = False) -> None:
        """Stop GDB (without touching the target: the owner stops QEMU);
        with ``kill``, SIGKILL at once instead of giving it time to detach."""
        if self._proc is not None:
            procutil.terminate(self._proc, grace=0 if kill else 0.5)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- waiting -------------------------------------------------------------

    def watch(self, fd: int, on_ready: Callable[[], object]) -> None:
        """Call ``on_ready`` whenever ``fd`` is readable during a wait; it may
        raise to abort the wait (e.g. when the fd is QEMU's pidfd)."""
        self._watches[fd] = on_ready

    def unwatch(self, fd: int) -> None:
        self._watches.pop(fd, None)

    def _pump(self, deadline: float) -> bool:
        """Wait until GDB output or a watched fd is ready, or the deadline.
        Returns False on timeout."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        ready, _, _ = select.select([self._out_fd, *self._watches], [], [], remaining)
        if not ready:
            return False
        for fd in ready:
            if fd == self._out_fd:
                self._read_gdb()
            else:
                self._watches[fd]()
        return True

    def _read_gdb(self) -> None:
        data = os.read(self._out_fd, 1 << 16)
        if not data:
            status = self._proc.poll() if self._proc else None
            raise self._error(GdbError, f"gdb exited unexpectedly (status {status})")
        lines = (self._buf + data).split(b"\n")
        self._buf = lines.pop()
        for raw in lines:
            self._line(raw.decode("utf-8", "replace").rstrip("\r"))

    def _line(self, line: str) -> None:
        self._tail.append(line)
        if self._log:
            self._log.write(line + "\n")
        i = 0
        while i < len(line) and line[i].isdigit():
            i += 1
        kind = line[i:i + 1]
        if kind == "^":
            rec = parse_simple_result(line) or parse_response(line)
            token = rec.get("token")
            if rec["message"] == "running":
                # The target resumes: a stop still queued (one GDB printed
                # late, after the caller had drained the queue) is from
                # before, not the stop this run will end in.
                self.running = True
                self._stops.clear()
            result = MiResult(rec["message"], rec.get("payload") or {}, self._take_stream())
            if token is not None:
                self._results[token] = result
        elif kind == "*":
            rec = parse_response(line)
            if rec["message"] == "stopped":
                self.running = False
                payload = rec.get("payload") or {}
                self._stops.append(StopEvent(payload.get("reason", ""), payload))
            elif rec["message"] == "running":
                self.running = True
        elif kind in ("~", "@"):
            self._stream.append(line)
        # "=" notifications, "&" log echo and the "(gdb)" prompt carry nothing we use

    def _take_stream(self) -> str:
        if not self._stream:
            return ""
        text = "".join(parse_response(s).get("payload") or "" for s in self._stream)
        self._stream = []
        return text

    # -- commands ------------------------------------------------------------

    def send(self, command: str) -> int:
        """Write ``command`` with a fresh token and return the token.  Raises
        GdbError when GDB is not running, has exited or is out of step."""
        if self._proc is None or self._proc.stdin is None:
            raise self._error(GdbError, "gdb is not running")
        if self.broken is not None:
            raise self._error(GdbError, f"cannot send {command!r}: {self.broken}")
        self._token += 1
        line = f"{self._token}{command}\n"
        self._tail.append("> " + line.rstrip())
        if self._log:
            self._log.write("> " + line)
        try:
            self._proc.stdin.write(line.encode())
        except BrokenPipeError:
            raise self._error(GdbError, f"gdb exited before {command!r}") from None
        return self._token

    def result(self, token: int, command: str, timeout: float | None = None) -> MiResult:
        """Wait for the result of ``token``; raise GdbError for ^error, and
        for no answer in time (after putting GDB back in step, see below).
        What a watch raises (MachineDied when QEMU exits) ends the wait."""
        start = time.monotonic()
        deadline = start + (timeout if timeout is not None else timeouts.scaled(timeouts.COMMAND))
        while token not in self._results:
            if not self._pump(deadline):
                raise self._resynchronise(token, command, deadline - start)
        result = self._results.pop(token)
        if result.message == "error":
            raise self._error(GdbError, f"{command!r} failed: {result.payload.get('msg', '?')}")
        return result

    def _resynchronise(self, token: int, command: str, waited: float) -> GdbError:
        """``command`` got no answer in ``waited`` seconds.  Make GDB give it
        up (SIGINT: GDB quits the command with ^error "Quit") and drain to its
        result, so the next command's answer is the next command's.  Returns
        the error to raise; when GDB does not answer even then, marks the
        client broken."""
        lost = f"no answer from gdb to {command!r} within {waited:.1f} s"
        if self._proc is not None:
            procutil.signal_pid(self._proc.pid, signal.SIGINT)
        deadline = time.monotonic() + timeouts.scaled(timeouts.COMMAND)
        while token not in self._results:
            if not self._pump(deadline):
                self.broken = (f"gdb is out of step: it never answered {command!r}, not even "
                               "when interrupted; this machine cannot be used (the pool "
                               "replaces it)")
                return self._error(GdbError, f"{lost}; {self.broken}")
        del self._results[token]
        # An interrupt that reached GDB only after it had answered is handled
        # in its idle loop, but it could also cut short the next command: a
        # harmless one takes it if so.
        for _ in range(2):
            barrier = self.send("-gdb-show confirm")
            while barrier not in self._results:
                if not self._pump(deadline):
                    self.broken = f"gdb stopped answering after {command!r} timed out"
                    return self._error(GdbError, f"{lost}; {self.broken}")
            if self._results.pop(barrier).message != "error":
                break
        return self._error(GdbError, f"{lost}; gdb gave it up when interrupted and answers "
                                     "in step again")

    def command(self, command: str, timeout: float | None = None) -> MiResult:
        """Send one MI command and wait for its result; raises as :meth:`send`
        and :meth:`result`."""
        return self.result(self.send(command), command, timeout)

    def console(self, cli: str, timeout: float | None = None) -> str:
        """Run a CLI command; returns what it printed.  Raises as :meth:`command`."""
        return self.command(f"-interpreter-exec console {mi_quote(cli)}", timeout).console

    def require_stopped(self, what: str) -> None:
        """Raises TargetStateError, saying it cannot ``what``, while the target runs."""
        if self.running:
            raise self._error(TargetStateError, f"cannot {what} while the target is running; "
                              "stop it first (interrupt() or wait_stopped())")

    def wait_stopped(self, timeout: float) -> StopEvent:
        """Wait for the next ``*stopped`` record.  Raises GuestTimeout when
        none comes in ``timeout`` seconds; what a watch raises ends the wait."""
        deadline = time.monotonic() + timeout
        while not self._stops:
            if not self._pump(deadline):
                raise self._error(GuestTimeout, f"target did not stop within {timeout:.1f} s")
        return self._stops.popleft()

    def drain_stops(self) -> list[StopEvent]:
        """Return and forget queued stop events."""
        stops = list(self._stops)
        self._stops.clear()
        return stops

    def pump_for(self, seconds: float) -> None:
        """Service GDB output and the watches for ``seconds``."""
        deadline = time.monotonic() + seconds
        while self._pump(deadline):
            pass

    # -- errors ----------------------------------------------------------------

    def tail(self, lines: int = 40, width: int = 240) -> str:
        """The last ``lines`` lines of the transcript, each cut to ``width``."""
        return "\n".join(line if len(line) <= width else line[:width] + " ..."
                         for line in list(self._tail)[-lines:])

    def _error(self, cls: type[ErrorT], message: str) -> ErrorT:
        if self._log:
            self._log.flush()
        self.check_target(message)  # raises instead if the target is gone
        return cls(message, serial_tail=self.serial_tail(), mi_tail=self.tail())
