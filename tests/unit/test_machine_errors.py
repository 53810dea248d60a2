"""Clear errors when a tool is missing or QEMU will not start (fake binaries)."""

import os
import stat

import pytest

from harness import BootError, ToolMissingError
from harness.machine.machine import Machine
from harness.machine.qemu import QemuConfig


@pytest.fixture
def kernel(tmp_path):
    path = tmp_path / "kernel.elf"
    path.write_bytes(b"\x7fELF")
    return path


def script(path, body):
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_missing_qemu_binary(kernel):
    m = Machine(QemuConfig(kernel=kernel, qemu="qemu-system-nowhere"))
    with pytest.raises(ToolMissingError, match=r"qemu-system-nowhere.*apt-get install"):
        m.start()


def test_missing_gdb_binary(kernel):
    m = Machine(QemuConfig(kernel=kernel), gdb="gdb-nowhere")
    with pytest.raises(ToolMissingError, match=r"gdb-nowhere.*apt-get install gdb"):
        m.start()


def test_qemu_that_exits_at_once_gives_a_boot_error_with_its_message(kernel, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script(bindir / "qemu-img", ': > "$(eval echo \\$$(($#-1)))"')
    qemu = script(bindir / "qemu-system-i386",
                  'echo "qemu: -machine pc: invalid option" >&2; exit 1')
    m = Machine(QemuConfig(kernel=kernel, qemu=str(qemu)))
    with pytest.raises(BootError, match="invalid option"):
        m.start()
    assert m.run_dir is not None and not m.run_dir.exists(), "the run directory is removed"


def test_no_orphan_after_failed_start(kernel, tmp_path):
    """QEMU dies at once; the GDB started beside it must be gone too."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script(bindir / "qemu-img", ': > "$(eval echo \\$$(($#-1)))"')
    qemu = script(bindir / "qemu-system-i386", "exit 2")
    gdb = script(bindir / "fake-gdb", "while :; do sleep 1; done")
    m = Machine(QemuConfig(kernel=kernel, qemu=str(qemu)), gdb=str(gdb))
    with pytest.raises(BootError):
        m.start()
    assert m.gdb is None and m.qemu.proc is None
    assert processes_mentioning(str(bindir)) == [], "an orphan from this test still runs"


def processes_mentioning(text):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def test_run_directory_too_deep_for_sockets_is_a_config_error(kernel, tmp_path, monkeypatch):
    from harness import ConfigError
    from harness.transport import rundir

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setenv("MMV_RUN_BASE", str(deep))
    monkeypatch.setattr(rundir, "_base", None)
    with pytest.raises(ConfigError, match="MMV_RUN_BASE"):
        Machine(QemuConfig(kernel=kernel)).start()


def test_qemu_that_never_creates_its_sockets_gives_a_boot_error(kernel, tmp_path, monkeypatch):
    """Not a bare TimeoutError: a harness error naming what is missing, with
    QEMU's stderr, and nothing left running."""
    from harness import timeouts

    bindir = tmp_path / "bin"
    bindir.mkdir()
    script(bindir / "qemu-img", ': > "$(eval echo \\$$(($#-1)))"')
    qemu = script(bindir / "qemu-system-i386", 'echo "stuck before the sockets" >&2; sleep 60')
    monkeypatch.setattr(timeouts, "BOOT", 0.5)
    m = Machine(QemuConfig(kernel=kernel, qemu=str(qemu)))
    with pytest.raises(BootError, match=r"did not create gdb.sock, qmp.sock, serial.sock within "
                                        r".*stuck before the sockets"):
        m.start()
    assert processes_mentioning(str(bindir)) == [], "an orphan from this test still runs"
