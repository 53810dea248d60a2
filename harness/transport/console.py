"""The guest's serial console (COM1) over QEMU's unix socket, through pexpect.

:class:`Console` is a pexpect spawn object, so ``expect()``, ``before``,
``after`` and ``match`` work as in any pexpect session.  Every byte the guest
sends is also kept: in ``serial.log`` in the run directory and in memory, where
:meth:`Console.text` reads it from any offset (a test's share of the log
starts at the :meth:`Console.mark` taken before it).

The console is for people: user programs write to it too, so it is never
parsed for records (those come from :mod:`harness.transport.record_channel`).

The socket is drained whenever the harness waits for anything (the MI client
watches it), so the guest never blocks on a full socket buffer.
"""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import pexpect
from pexpect.spawnbase import SpawnBase

from harness import timeouts
from harness.transport import serial_socket


class Console(SpawnBase):
    """Serial console of one machine. Connect with :meth:`connect`."""

    def __init__(self, sock: socket.socket, log_path: Path) -> None:
        super().__init__(timeout=timeouts.scaled(timeouts.SERIAL), encoding="utf-8",
                         codec_errors="replace")
        self._sock = sock
        self._sock.setblocking(False)
        self.child_fd = sock.fileno()
        self._logfile = open(log_path, "wb", buffering=0)
        self._all = bytearray()
        self._unread = bytearray()
        self.closed_by_peer = False
        # Other channels of the same guest (the record channel) that must be
        # drained while expect() waits here, or a guest writing to them would
        # block on a full socket and never send what expect() waits for.
        self.companions: list = []

    @classmethod
    def connect(cls, path: Path, log_path: Path, timeout: float) -> Console:
        """Connect to QEMU's serial socket, retrying until QEMU has created it.
        Raises FileNotFoundError or ConnectionRefusedError after ``timeout``."""
        return cls(serial_socket.connect(path, timeout), log_path)

    def fileno(self) -> int:
        return self._sock.fileno()

    # -- reading -----------------------------------------------------------

    def drain(self) -> int:
        """Read whatever the guest has sent so far; returns the byte count."""
        if self.closed_by_peer:
            return 0
        data, self.closed_by_peer = serial_socket.read_available(self._sock)
        if data:
            self._ingest(data)
        return len(data)

    def _ingest(self, data: bytes) -> None:
        self._logfile.write(data)
        self._all += data
        self._unread += data

    def read_nonblocking(self, size: int = 1, timeout: float | None = -1) -> str:
        """pexpect's hook: up to ``size`` characters, waiting up to ``timeout``."""
        if timeout == -1:
            timeout = self.timeout
        if not self._unread:
            self.drain()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._unread and not self.closed_by_peer:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining < 0:
                break
            ready, _, _ = select.select([self._sock, *self.companions], [], [], remaining)
            for other in self.companions:
                if other in ready:
                    other.drain()
            if self._sock in ready:
                self.drain()
        if not self._unread:
            if self.closed_by_peer:
                self.flag_eof = True
                raise pexpect.EOF("the serial console was closed (QEMU exited?)")
            raise pexpect.TIMEOUT("no serial output in time")
        chunk = bytes(self._unread[:size])
        del self._unread[:size]
        text = self._decoder.decode(chunk, final=False)
        self._log(text, "read")
        return text

    # -- writing (the debug shell) --------------------------------------------

    def send(self, s: str | bytes) -> int:
        data = s.encode() if isinstance(s, str) else s
        self._sock.sendall(data)
        return len(data)

    def sendline(self, s: str | bytes = "") -> int:
        data = s.encode() if isinstance(s, str) else s
        return self.send(data + b"\r")

    def discard(self) -> None:
        """Forget the output no expect() has consumed yet (the log keeps it):
        the next expect() sees only what the guest sends from now on, not a
        prompt left over from an earlier test on the same (restored) machine."""
        self.drain()
        self._unread.clear()
        self.buffer = self.string_type()

    # -- the kept log ------------------------------------------------------------

    def mark(self) -> int:
        """An offset into the log; pass it to text()/records() as ``since``."""
        self.drain()
        return len(self._all)

    def text(self, since: int = 0) -> str:
        """The log from offset ``since``, line endings normalised to \\n."""
        self.drain()
        return self._all[since:].decode("utf-8", "replace").replace("\r\n", "\n")

    def tail(self, lines: int = 25, since: int = 0) -> str:
        return "\n".join(self.text(since).splitlines()[-lines:])

    def close(self) -> None:
        try:
            self._sock.close()
        finally:
            self._logfile.close()
