"""A watchdog process that cleans up after a harness process that died.

The harness process starts one reaper (lazily, on first use) and tells it, one
line at a time over a pipe, which child pids and run directories exist:

    pid 1234 / unpid 1234 / dir /dev/shm/mmv-abc / undir /dev/shm/mmv-abc

When the pipe closes - the harness exited normally, was interrupted, or was
killed with SIGKILL - the reaper kills the process groups still listed and
removes the directories still listed, then exits.  It runs in its own session
so a Ctrl-C in the terminal does not stop it before it has done its job.

Started by :func:`_ensure` as a plain script (it imports nothing from the harness).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading

_proc: subprocess.Popen | None = None
_owner = 0  # the pid that started _proc: a forked child must start its own
_lock = threading.Lock()


def _ensure() -> subprocess.Popen:
    global _proc, _owner
    with _lock:
        if _proc is None or _owner != os.getpid() or _proc.poll() is not None:
            _proc = subprocess.Popen(
                [sys.executable, "-S", os.path.abspath(__file__)], stdin=subprocess.PIPE,
                start_new_session=True, close_fds=True,
            )
            _owner = os.getpid()
        return _proc


def _send(line: str) -> None:
    proc = _ensure()
    try:
        assert proc.stdin is not None  # stdin=PIPE: for the type checker
        proc.stdin.write((line + "\n").encode())
        proc.stdin.flush()
    except BrokenPipeError:
        pass


def watch_pid(pid: int) -> None:
    _send(f"pid {pid}")


def unwatch_pid(pid: int) -> None:
    _send(f"unpid {pid}")


def watch_dir(path: str | os.PathLike) -> None:
    _send(f"dir {os.fspath(path)}")


def unwatch_dir(path: str | os.PathLike) -> None:
    _send(f"undir {os.fspath(path)}")


def _run() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pids: set[int] = set()
    dirs: set[str] = set()
    for raw in sys.stdin.buffer:
        verb, _, arg = raw.decode(errors="replace").strip().partition(" ")
        if verb == "pid":
            pids.add(int(arg))
        elif verb == "unpid":
            pids.discard(int(arg))
        elif verb == "dir":
            dirs.add(arg)
        elif verb == "undir":
            dirs.discard(arg)
    for pid in pids:
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
                break
            except (ProcessLookupError, PermissionError):
                continue
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    _run()
