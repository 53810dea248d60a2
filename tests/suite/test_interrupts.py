"""Interrupting or killing pytest leaves no QEMU, no GDB and no run directory,
and an interrupted run ends without waiting on its machines.

Each case runs a real pytest in a subprocess whose tests hold running machines,
interrupts it once every machine is up (SIGINT to its whole process group,
as a terminal's Ctrl-C; SIGTERM and SIGKILL to pytest alone, as kill or a CI
runner's timeout), and then looks for anything left behind: processes are
found by a marker in their environment (every child inherits it), run
directories by a private MMV_RUN_BASE.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from harness import timeouts
from harness.targets.mmverify.build import REPO

HOLDING_TESTS = '''
import os, time
import pytest

@pytest.mark.parametrize("i", range({count}))
def test_hold_a_running_machine(machine, i):
    machine.cont(wait=False)  # the guest runs; QEMU and GDB are busy
    open(os.path.join(os.environ["MMV_READY_DIR"], f"{{os.getpid()}}-{{i}}"), "w").close()
    time.sleep(120)
'''

# QEMU stopped by SIGSTOP: the guest cannot be interrupted, GDB's detach and
# QMP's quit get no answer; only SIGKILL ends it.
FROZEN_MACHINE_TEST = '''
import os, signal, time

def test_hold_a_frozen_machine(machine):
    machine.cont(wait=False)
    os.kill(machine.qemu.proc.pid, signal.SIGSTOP)
    open(os.path.join(os.environ["MMV_READY_DIR"], str(os.getpid())), "w").close()
    time.sleep(120)
'''

USE_EXISTING_BUILD = '''
import os
from pathlib import Path
import pytest
from harness.targets.mmverify.build import Artifacts

@pytest.fixture(scope="session")
def firmware():
    return Artifacts(Path(os.environ["MMV_TEST_BUILD_DIR"]))
'''


def processes_with(marker: bytes) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if marker in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def leftovers(marker: bytes, run_base) -> tuple[list[int], list[str]]:
    return processes_with(marker), sorted(os.listdir(run_base))


def start_run(tmp_path, firmware, tests: str, workers: int):
    """A pytest child running ``tests``; returns it, its ready folder, its
    run base and the marker in its environment."""
    (tmp_path / "test_hold.py").write_text(tests)
    (tmp_path / "conftest.py").write_text(USE_EXISTING_BUILD)
    ready = tmp_path / "ready"
    ready.mkdir()
    # Socket paths must stay short: not under pytest's deep tmp_path.
    run_base = Path(tempfile.mkdtemp(prefix="mmvi-", dir="/dev/shm" if os.access(
        "/dev/shm", os.W_OK) else None))
    marker = f"MMV_INTERRUPT_MARKER={uuid.uuid4().hex}"
    env = dict(os.environ, MMV_READY_DIR=str(ready), MMV_RUN_BASE=str(run_base),
               MMV_TEST_BUILD_DIR=str(firmware.build_dir), PYTHONPATH=str(REPO))
    env.pop("PYTEST_XDIST_WORKER", None)
    key, value = marker.split("=")
    env[key] = value
    argv = [sys.executable, "-m", "pytest", "-q",
            "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)]
    if workers:
        argv += ["-n", str(workers)]
    # SIGINT as a terminal's Ctrl-C delivers it: a shell that starts a job in
    # the background (a CI runner's, nohup's) leaves SIGINT ignored, and a
    # child would inherit that and never see the signal this test sends.
    child = subprocess.Popen(argv, cwd=tmp_path, env=env, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return child, ready, run_base, marker.encode()


def wait_until_ready(child, ready, count, marker, run_base) -> None:
    deadline = time.monotonic() + 60
    while len(os.listdir(ready)) < count:
        assert child.poll() is None, child.stdout.read().decode()
        assert time.monotonic() < deadline, "the machines never came up"
        time.sleep(0.05)
    assert processes_with(marker), "the marker must find the running machines"
    assert os.listdir(run_base)


def assert_nothing_left(marker, run_base, sig) -> None:
    deadline = time.monotonic() + 15
    while any(leftovers(marker, run_base)) and time.monotonic() < deadline:
        time.sleep(0.1)
    procs, dirs = leftovers(marker, run_base)
    described = [open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ")[:120]
                 for p in procs if os.path.exists(f"/proc/{p}")]
    assert procs == [], f"left running after {sig.name}: {described}"
    assert dirs == [], f"run directories left after {sig.name}: {dirs}"


def clean_up(child, marker, run_base) -> None:
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    for pid in processes_with(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(run_base, ignore_errors=True)


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist2"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_interrupted_run_leaves_nothing_behind(tmp_path, firmware, sig, workers):
    count = max(workers, 1)
    child, ready, run_base, marker = start_run(tmp_path, firmware,
                                               HOLDING_TESTS.format(count=count), workers)
    try:
        wait_until_ready(child, ready, count, marker, run_base)
        if sig == signal.SIGINT:  # Ctrl-C: the terminal signals the whole foreground group
            os.killpg(child.pid, sig)
        else:  # kill, a CI runner's timeout: the pytest it started
            child.send_signal(sig)
        child.wait(timeout=60)
        assert_nothing_left(marker, run_base, sig)
    finally:
        clean_up(child, marker, run_base)


def test_an_interrupted_run_does_not_wait_on_a_frozen_machine(tmp_path, firmware):
    """Stopping the guest, GDB's detach and QMP's quit would each wait out a
    timeout on this machine; after SIGINT the run kills it instead and ends in
    the seconds pytest itself needs."""
    child, ready, run_base, marker = start_run(tmp_path, firmware, FROZEN_MACHINE_TEST, 0)
    try:
        wait_until_ready(child, ready, 1, marker, run_base)
        child.send_signal(signal.SIGINT)
        start = time.monotonic()
        child.wait(timeout=60)
        took = time.monotonic() - start
        # Waiting on the machine costs at least 16.5 s (times the timeout
        # scale); pytest's own shutdown takes a few seconds on a busy machine.
        assert took < timeouts.scaled(14), (
            f"{took:.1f} s after SIGINT:\n{child.stdout.read().decode()[-2000:]}")
        assert_nothing_left(marker, run_base, signal.SIGINT)
    finally:
        clean_up(child, marker, run_base)
