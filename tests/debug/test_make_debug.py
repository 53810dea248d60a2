"""`make debug` driven the way a person uses it, in a terminal (tmux): boot,
stop at kernel_ready, run mm commands at the interactive GDB prompt (before
and after spawning a user program), quit;
afterwards no QEMU or GDB of the session is left and its run directory is gone.

The command is `make debug` with two overrides that keep the test from
changing the environment it runs in: PY is the interpreter running the tests
(a tox environment has no .venv), and `-o .venv/.installed` skips the venv
step (pip), which would otherwise reinstall packages under running tests.
The `deps` step (apt packages) and the build run as usual.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harness import timeouts
from harness.targets.mmverify.build import REPO
from harness.transport import reaper

pytestmark = pytest.mark.qemu


class Tmux:
    """One private tmux server (its own socket) with one session."""

    def __init__(self, command: str) -> None:
        self.name = f"mmv-debug-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.tmux(["-f", "/dev/null", "new-session", "-d", "-s", self.name, "-x", "200",
                   "-y", "50", command])
        # tmux daemonizes, out of pytest's process tree: if pytest dies before
        # kill() (SIGKILL, or a mutation run's budget), the reaper kills the
        # server and the pane's process group (make, the harness, its QEMU).
        self.watched = [int(self.tmux(["display-message", "-p", "#{pid}"])), self.pane_pid()]
        for pid in self.watched:
            reaper.watch_pid(pid)

    def tmux(self, args: list[str]) -> str:
        return subprocess.run(["tmux", "-L", self.name, *args], check=True, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=10).stdout

    def pane(self) -> str:
        """The whole pane, history included, without the blank rows below the
        cursor (so an offset into it stays valid as output is added)."""
        return self.tmux(["capture-pane", "-p", "-J", "-S", "-", "-t", self.name]).rstrip()

    def pane_pid(self) -> int:
        return int(self.tmux(["display-message", "-p", "-t", self.name, "#{pane_pid}"]))

    def type(self, text: str) -> None:
        self.tmux(["send-keys", "-t", self.name, "-l", text])
        self.tmux(["send-keys", "-t", self.name, "Enter"])

    def wait_for(self, pattern: str, timeout: float, since: int = 0) -> str:
        """Poll the pane until ``pattern`` appears after character ``since``."""
        deadline = time.monotonic() + timeouts.scaled(timeout)
        while True:
            text = self.pane()
            if re.search(pattern, text[since:], re.MULTILINE):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} did not appear; the pane:\n{text}")
            time.sleep(0.05)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.name, "kill-server"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=10)
        for pid in self.watched:
            reaper.unwatch_pid(pid)


def descendants(root: int) -> dict[int, list[str]]:
    """Processes below ``root``: pid -> argv."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = {}, [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            try:
                out[pid] = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            out[pid] = [a.decode(errors="replace") for a in out[pid] if a]
            todo.append(pid)
    return out


def alive(pid: int) -> bool:
    try:
        return "Z" not in (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1][:3]
    except OSError:
        return False


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (make deps)")
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_debug_session_in_tmux(firmware):
    command = (f"cd {shlex.quote(str(REPO))} && make -o .venv/.installed debug "
               f"PY={shlex.quote(sys.executable)}; echo \"[make debug exited: $?]\"; "
               "exec sleep 60")
    session = Tmux(command)
    started: dict[int, list[str]] = {}
    try:
        session.wait_for(r"Hardware assisted breakpoint 1 at 0x[0-9a-f]+: file .*main\.c", 60)
        started = {pid: argv for pid, argv in descendants(session.pane_pid()).items()
                   if argv and Path(argv[0]).name in ("qemu-system-i386", "gdb")}
        qemu = [argv for argv in started.values() if argv[0].endswith("qemu-system-i386")]
        assert len(qemu) == 1 and len(started) == 2, f"expected one QEMU and one GDB: {started}"
        run_dir = Path(re.search(r"path=(\S+)/gdb\.sock", " ".join(qemu[0]))[1])

        session.type("continue")
        text = session.wait_for(r"^Breakpoint 1, kernel_ready \(\)", 20)
        mark = len(text)
        session.type("mm procs")
        text = session.wait_for(r"^processes: 0 of 16 slots in use; current: none", 10, mark)
        mark = len(text)
        session.type('set {char[6]}agent_scratch = "hello"')
        session.type("print proc_spawn(agent_scratch, 0, 0)")
        text = session.wait_for(r"^\$1 = 1$", 10, mark)  # make debug loads the user programs
        mark = len(text)
        session.type("mm procs")
        text = session.wait_for(r"^ +1  ready +hello +0x[0-9a-f]{8} ", 10, mark)
        mark = len(text)
        session.type("mm map 1")
        # make debug boots -cpu max: PAE with NX, so the rights show x.
        text = session.wait_for(r"^0x00001000 +0x00002000 +4 KiB  ur-x$", 10, mark)
        assert "pid 1 (hello)" in text[mark:]
        mark = len(text)
        session.type("mm map")
        text = session.wait_for(r"^0xc0100000 +0xc01[0-9a-f]{5} +\d+ KiB  -r-x  global$", 10,
                                mark)
        assert "the kernel (kernel_page_directory) [current]" in text[mark:]
        mark = len(text)
        session.type("mm show")
        session.wait_for(r"^kernel-base  0xc0000000  \(the mmverify target profile\)$", 10, mark)
        text = session.pane()
        assert "Traceback" not in text and "Python Exception" not in text

        session.type("quit")
        session.wait_for(r"\(y or n\)", 10)
        session.type("y")
        session.wait_for(r"^\[make debug exited: 0\]$", 20)
        deadline = time.monotonic() + timeouts.scaled(10)
        while any(alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in started if alive(pid)], f"left running: {started}"
        pgrep = subprocess.run(["pgrep", "-a", "qemu-system"], stdout=subprocess.PIPE,
                               text=True).stdout
        assert str(run_dir) not in pgrep, pgrep
        assert not run_dir.exists(), "make debug removes its run directory"
    finally:
        session.kill()
        for pid in started:  # only what this session started, by pid
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
