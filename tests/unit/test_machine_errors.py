"""Clear errors when a tool is missing or QEMU will not start (fake binaries)."""

import os
import stat

import pytest

from harness import BootError, ToolMissingError
from harness.machine.machine import Machine
from harness.machine.qemu import QemuConfig


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


def test_a_serial_socket_that_refuses_gives_a_boot_error(kernel, tmp_path, monkeypatch):
    """QEMU "creates" its sockets as plain files: connecting to the console
    fails with an OSError, which start() reports as a BootError (with the
    serial and MI tails, empty this early), not as a bare ConnectionRefusedError."""
    from harness import timeouts

    bindir = tmp_path / "bin"
    bindir.mkdir()
    script(bindir / "qemu-img", ': > "$(eval echo \\$$(($#-1)))"')
    qemu = script(bindir / "qemu-system-i386",
                  'for a in "$@"; do case "$a" in *path=*) p=${a#*path=}; : > "${p%%,*}";; '
                  'esac; done; sleep 60')
    monkeypatch.setattr(timeouts, "BOOT", 0.5)
    m = Machine(QemuConfig(kernel=kernel, qemu=str(qemu)))
    with pytest.raises(BootError, match="machine did not start: ConnectionRefusedError") as caught:
        m.start()
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert processes_mentioning(str(bindir)) == [], "an orphan from this test still runs"


@pytest.mark.parametrize("use", [
    lambda m: m.wait_stopped(1),
    lambda m: m.interrupt(),
    lambda m: m.expect("READY", 1),
    lambda m: m.wait_exit(1),
    lambda m: m.cont(),
    lambda m: m.read(0x1000, 4),
    lambda m: m.registers("eip"),
], ids=["wait_stopped", "interrupt", "expect", "wait_exit", "cont", "read", "registers"])
def test_a_machine_not_started_says_so(kernel, use):
    from harness import TargetStateError

    with pytest.raises(TargetStateError, match=r"cannot .*: the machine is not started"):
        use(Machine(QemuConfig(kernel=kernel)))


def test_a_target_without_a_ready_point_cannot_be_run_to_it(kernel):
    from harness import ConfigError
    from harness.machine.pool import run_to_ready

    m = Machine(QemuConfig(kernel=kernel))  # PLAIN_MULTIBOOT: neither ready nor ready_serial
    with pytest.raises(ConfigError, match="neither ready nor ready_serial"):
        run_to_ready(m, 1)
