"""Child processes that cannot outlive the harness.

Every QEMU and GDB the harness starts is created by :func:`spawn`:

* in its own session (``start_new_session``), so a Ctrl-C in the terminal
  reaches pytest alone, which then kills its machines (the plugin's
  ``interrupted``), instead of QEMU and GDB dying under it at random points;
* with ``PR_SET_PDEATHSIG`` = SIGKILL, so the kernel kills it when the thread
  that started it dies, even by SIGKILL, where no Python cleanup runs;
* registered with the :mod:`harness.transport.reaper` watchdog, a separate process that
  kills what is left and removes the run directories when this process is gone.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1
_libc: Any = None


def _prctl_pdeathsig(sig: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    _libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies."""
    parent = os.getppid()
    _prctl_pdeathsig(sig)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)


def _child_setup(parent: int) -> None:
    _prctl_pdeathsig(signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def spawn(argv: Sequence[str | os.PathLike], *, stdin: Any = subprocess.DEVNULL,
          stdout: Any = subprocess.DEVNULL, stderr: Any = subprocess.DEVNULL,
          cwd: str | Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a child that dies with us (see the module docstring)."""
    from harness.transport import reaper

    parent = os.getpid()
    proc = subprocess.Popen(
        [str(a) for a in argv], stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd, env=env,
        start_new_session=True, preexec_fn=lambda: _child_setup(parent), bufsize=0,
    )
    reaper.watch_pid(proc.pid)
    return proc


def terminate(proc: subprocess.Popen, *, grace: float = 1.0) -> int | None:
    """Stop ``proc`` and its process group: SIGTERM, then SIGKILL after
    ``grace`` (at once when ``grace`` is 0).

    Returns the exit status (None if it could not be collected)."""
    from harness.transport import reaper

    status = proc.poll()
    if status is None and grace > 0:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            status = proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    if status is None:
        _signal_group(proc.pid, signal.SIGKILL)
        try:
            status = proc.wait(5)
        except subprocess.TimeoutExpired:
            status = None
    reaper.unwatch_pid(proc.pid)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        _close_quietly(stream)
    return status


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _close_quietly(stream: IO | None) -> None:
    if stream is not None:
        try:
            stream.close()
        except OSError:
            pass


def pidfd(proc: subprocess.Popen) -> int | None:
    """A file descriptor that becomes readable when ``proc`` exits (Linux 5.3+),
    so waits can select() on a process's death; None where unsupported."""
    try:
        return os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return None


def signal_pid(pid: int, sig: int) -> None:
    """Send ``sig`` to one process (not its group); ignore if it is gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
