"""The kernel's record channel: COM2 over QEMU's unix socket.

Only the kernel drives COM2 (ring 3 has no I/O privilege), so what arrives
here is the kernel's word: every structured record, and user programs' output
only inside the ``OUT`` records the kernel frames and attributes to a pid.
The console (COM1, :mod:`harness.transport.console`) carries the same records for
people, mixed with whatever user programs print, and is never parsed for
results.

Every byte is kept, in ``records.log`` in the run directory and in memory; a
test's share starts at the offset :meth:`RecordChannel.mark` returned.  The
socket is drained whenever the harness waits for anything (the MI client
watches it), so the guest never blocks on a full socket buffer.
"""

from __future__ import annotations

import socket
from pathlib import Path

from harness.decode.records import Record, parse_records
from harness.transport import serial_socket


class Mark(int):
    """An offset into the record channel.  Its own type, so an offset into the
    console's log (a different stream) passed by mistake is an error, not a
    silently wrong share of the records."""


def _offset(since: int) -> int:
    if since and not isinstance(since, Mark):
        raise TypeError(f"since={since!r} is not a record-channel mark: take it with "
                        "machine.mark() (console.mark() counts the console's bytes)")
    return int(since)


class RecordChannel:
    """COM2 of one machine.  Connect with :meth:`connect`."""

    def __init__(self, sock: socket.socket, log_path: Path) -> None:
        self._sock = sock
        self._sock.setblocking(False)
        self._logfile = open(log_path, "wb", buffering=0)
        self._all = bytearray()
        self.closed_by_peer = False

    @classmethod
    def connect(cls, path: Path, log_path: Path, timeout: float) -> RecordChannel:
        """Connect to QEMU's socket for COM2, retrying until QEMU has made it.
        Raises FileNotFoundError or ConnectionRefusedError after ``timeout``."""
        return cls(serial_socket.connect(path, timeout), log_path)

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self) -> int:
        """Read whatever the kernel has sent so far; returns the byte count."""
        if self.closed_by_peer:
            return 0
        data, self.closed_by_peer = serial_socket.read_available(self._sock)
        self._logfile.write(data)
        self._all += data
        return len(data)

    def mark(self) -> Mark:
        """The offset of what comes next; pass it to text()/records() as ``since``."""
        self.drain()
        return Mark(len(self._all))

    def text(self, since: int = 0) -> str:
        """The channel from offset ``since``.  The kernel escapes every byte of
        a value that is not printable ASCII, so latin-1 loses nothing.  Raises
        TypeError when ``since`` is not a :class:`Mark` (or 0)."""
        since = _offset(since)
        self.drain()
        return self._all[since:].decode("latin-1")

    def records(self, tag: str | None = None, since: int = 0) -> list[Record]:
        """Records from offset ``since`` (optionally of one tag), in order.  A
        line the kernel has not finished yet is not a record.  Raises
        TypeError when ``since`` is not a :class:`Mark` (or 0)."""
        text = self.text(since)
        complete = text[:text.rfind("\n") + 1]
        return parse_records(complete, tag)

    def close(self) -> None:
        try:
            self._sock.close()
        finally:
            self._logfile.close()
