"""A QEMU serial port's unix socket, shared by the console (COM1) and the
record channel (COM2): connecting while QEMU is still making it, and reading
what has arrived without ever blocking."""

from __future__ import annotations

import socket
import time
from pathlib import Path


def connect(path: Path, timeout: float) -> socket.socket:
    """A non-blocking connection to the socket at ``path``, retrying until
    QEMU has created it.  Raises FileNotFoundError or ConnectionRefusedError
    when it is not there within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            sock.setblocking(False)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def read_available(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything the guest has sent so far, and whether the other end (QEMU)
    has closed the socket."""
    chunks: list[bytes] = []
    while True:
        try:
            data = sock.recv(1 << 16)
        except BlockingIOError:
            return b"".join(chunks), False
        except OSError:
            data = b""
        if not data:
            return b"".join(chunks), True
        chunks.append(data)
