"""The busybox shell on a Linux machine's serial console.

A command's output is framed by two markers the terminal's echo of the
command line cannot contain (``echo @@''B`` prints ``@@B``; the echo shows
``@@''B``), because ash's line editor wraps and redraws long command lines.
What a shell prints is for people and for synchronisation; the Linux tests
assert on what GDB, QEMU and the page tables say.
"""

from __future__ import annotations

import re

from harness import timeouts
from harness.errors import TargetStateError
from harness.machine.machine import Machine
from harness.transport.console import Console

PROMPT = "mmv# "
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Shell:
    """The shell at ``PROMPT`` on ``machine``'s console (the guest must be at
    the prompt; the shell resumes a stopped guest and leaves it running)."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine

    def _console(self) -> Console:
        if self.m.console is None:
            raise TargetStateError("the machine has no console: it is not started")
        return self.m.console

    def _resume(self) -> None:
        gdb = self.m.gdb
        if gdb is not None and not gdb.running:
            self.m.cont(wait=False)

    def run(self, command: str, timeout: float | None = None) -> str:
        """Run ``command`` and return its output (\\n line ends, no terminal
        escapes); the output must be empty or end a line.  GuestTimeout when
        the prompt does not come back."""
        timeout = timeouts.scaled(timeouts.SERIAL) if timeout is None else timeout
        console = self._console()
        self._resume()
        console.discard()
        console.sendline(f"echo @@''B; {command}; echo @@''E")
        self.m.expect(r"\n@@B", timeout)
        self.m.expect(r"\n@@E\r?\n", timeout)
        out = _ANSI.sub("", console.before.replace("\r", "")).removeprefix("\n")
        self.m.expect(re.escape(PROMPT), timeout)
        return out + "\n" if out else ""

    def start(self, command: str) -> None:
        """Type ``command`` at the prompt without waiting for it to end (a
        program the test will stop in, or that will fault)."""
        self._resume()
        console = self._console()
        console.discard()
        console.sendline(command)

    def type(self, text: str) -> None:
        """Send raw keystrokes (a line for a program reading the console),
        resuming the guest if it is stopped."""
        self._resume()
        self._console().send(text)
