"""The mm GDB commands under a real GDB in batch mode, against a booted QEMU.

No harness Machine: QEMU is started with the harness's Qemu class and a plain
``gdb --nx -batch`` attaches to its gdbstub, as a person's GDB would.
"""

from __future__ import annotations

import subprocess

import pytest

from harness import timeouts
from harness.machine.qemu import Qemu, QemuConfig
from harness.targets.mmverify.build import REPO
from harness.targets.mmverify.profile import profile
from harness.transport import rundir

from .gdbrun import MM_SCRIPT, PYTHON_ERRORS, Transcript, gdb_argv


@pytest.fixture
def run_gdb(request: pytest.FixtureRequest, firmware):
    """run_gdb(commands, modules=("hello",), cmdline="aslr=off", boot=True) -> Transcript.

    Boots a fresh QEMU (paused at reset), runs GDB in batch mode with the mm
    script sourced by its path, attached, stopped at kernel_ready (at reset
    with boot=False), then the commands; QEMU is stopped and its run directory
    removed afterwards."""
    gdb = request.config.getoption("--gdb")
    qemu_bin = request.config.getoption("--qemu")

    def run(commands: list[str], *, modules: tuple[str, ...] = ("hello",),
            cmdline: str = "aslr=off", boot: bool = True, timeout: float = 30) -> Transcript:
        cfg = QemuConfig(kernel=firmware.kernel, target=profile(firmware), cmdline=cmdline,
                         qemu=qemu_bin,
                         modules=tuple(str(firmware.user_program(m)) for m in modules))
        run_dir = rundir.new_run_dir()
        qemu = Qemu(cfg, run_dir)
        try:
            qemu.start()
            qemu.wait_sockets(timeouts.scaled(timeouts.BOOT))
            setup = [f"source {MM_SCRIPT}", f"target remote {run_dir / 'gdb.sock'}",
                     "hbreak kernel_ready", *(["continue"] if boot else [])]
            proc = subprocess.run(gdb_argv(gdb, firmware.kernel, setup, commands),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, text=True, cwd=REPO,
                                  timeout=timeouts.scaled(timeout))
        finally:
            qemu.stop()
            rundir.remove(run_dir)
        for sign in PYTHON_ERRORS:
            assert sign not in proc.stdout, proc.stdout
        assert ("Breakpoint 1, kernel_ready" in proc.stdout) == boot, proc.stdout
        return Transcript(commands, proc.stdout, proc.returncode)

    return run
