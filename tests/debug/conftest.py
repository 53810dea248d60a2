"""The mm GDB commands under a real GDB in batch mode, against a booted QEMU.

No harness Machine: QEMU is started with the harness's Qemu class and a plain
``gdb --nx -batch`` attaches to its gdbstub, as a person's GDB would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from harness import timeouts
from harness.machine.qemu import Qemu, QemuConfig
from harness.targets.mmverify.build import REPO
from harness.targets.mmverify.profile import profile
from harness.transport import rundir

from .gdbrun import MM_SCRIPT, PYTHON_ERRORS, Transcript, gdb_argv

FIRMWARE = "firmware"


def elf_symbol(path: Path, name: str) -> int:
    with open(path, "rb") as f:
        symbols = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)
    assert symbols, f"{name} not in {path}"
    return symbols[0]["st_value"]


@pytest.fixture
def run_gdb(request: pytest.FixtureRequest, firmware):
    """run_gdb(commands, modules=("hello",), cmdline="aslr=off paging=legacy",
    boot=True, symbols="firmware", disks=()) -> Transcript.

    Boots a fresh QEMU (paused at reset), runs GDB in batch mode with the mm
    script sourced by its path, attached, stopped at kernel_ready (at reset
    with boot=False), then the commands; QEMU is stopped and its run directory
    removed afterwards.  paging=legacy by default: these tests compare the mm
    commands' exact legacy output, and `mm pt` dumps only 32-bit tables so far
    (test_mm_pae.py and test_make_debug.py see PAE).  ``symbols``: "firmware"
    (GDB loads kernel.elf), None
    (a plain GDB with no symbol file: `set architecture i386`, and the
    breakpoint on kernel_ready's address), or the path of another ELF file,
    loaded as the symbol file instead of the firmware's."""
    gdb = request.config.getoption("--gdb")
    qemu_bin = request.config.getoption("--qemu")

    def run(commands: list[str], *, modules: tuple[str, ...] = ("hello",),
            cmdline: str = "aslr=off paging=legacy", boot: bool = True, timeout: float = 30,
            symbols: str | Path | None = FIRMWARE, after=None, disks=(), balloon=False,
            before=None) -> Transcript:
        cfg = QemuConfig(kernel=firmware.kernel, target=profile(firmware), cmdline=cmdline,
                         qemu=qemu_bin, disks=tuple(disks), balloon=balloon,
                         modules=tuple(str(firmware.user_program(m)) for m in modules))
        run_dir = rundir.new_run_dir()
        qemu = Qemu(cfg, run_dir)
        try:
            qemu.start()
            qemu.wait_sockets(timeouts.scaled(timeouts.BOOT))
            if before is not None:  # QEMU is there, paused at reset, before GDB attaches
                before(qemu)
            ready = elf_symbol(firmware.kernel, "kernel_ready")
            setup = [f"source {MM_SCRIPT}",
                     *(["set architecture i386"] if symbols != FIRMWARE else []),
                     *([f"symbol-file {symbols}"] if symbols not in (FIRMWARE, None) else []),
                     f"target remote {run_dir / 'gdb.sock'}",
                     "hbreak kernel_ready" if symbols == FIRMWARE else f"hbreak *{ready:#x}",
                     *(["continue"] if boot else [])]
            elf = firmware.kernel if symbols == FIRMWARE else None
            proc = subprocess.run(gdb_argv(gdb, elf, setup, commands),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, text=True, cwd=REPO,
                                  timeout=timeouts.scaled(timeout))
            # GDB detached (the guest runs on, idle after kernel_ready):
            # after(qemu, cfg) looks at the machine with GDB gone.
            extra = after(qemu, cfg) if after is not None else None
        finally:
            qemu.stop()
            rundir.remove(run_dir)
        for sign in PYTHON_ERRORS:
            assert sign not in proc.stdout, proc.stdout
        stopped = ("Breakpoint 1, kernel_ready" if symbols == FIRMWARE
                   else f"Breakpoint 1, {ready:#010x} in ")
        assert (stopped in proc.stdout) == boot, proc.stdout
        return Transcript(commands, proc.stdout, proc.returncode, seen=extra)

    return run
