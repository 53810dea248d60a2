"""``make debug``: QEMU paused at reset and an interactive GDB attached to it.

QEMU runs in its own session (Ctrl-C in GDB interrupts the guest, not QEMU);
the serial console and the kernel's record channel (COM2) are copied to log
files whose paths are printed.  The user
programs are loaded as modules (spawn one by name with proc_spawn), and GDB
has the mm commands (harness/gdbcmds/mm.py).  Quitting GDB stops QEMU and
removes the run directory."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from harness.machine.machine import GDB_HINT
from harness.machine.qemu import Qemu, QemuConfig, find_binary
from harness.targets.mmverify import build
from harness.targets.mmverify.profile import profile
from harness.transport import rundir

GDBCMDS = Path(__file__).resolve().parent.parent / "gdbcmds" / "mm.py"


def _copy_serial(sock_path: Path, log: Path) -> None:
    deadline = time.monotonic() + 10
    sock = socket.socket(socket.AF_UNIX)
    while True:
        try:
            sock.connect(str(sock_path))
            break
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
    with open(log, "wb", buffering=0) as out:
        while data := sock.recv(4096):
            out.write(data)


def user_modules(artifacts: build.Artifacts, spec: str) -> tuple[str, ...]:
    """Paths of the user programs named in ``spec`` ("*": all of them)."""
    if spec == "*":
        return tuple(str(p) for p in sorted(artifacts.user_dir.glob("*.elf")))
    return tuple(str(artifacts.user_program(name.strip()))
                 for name in spec.split(",") if name.strip())


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m harness debug", description=__doc__)
    parser.add_argument("--memory", default="64M")
    parser.add_argument("--cpu", default="max")
    parser.add_argument("--cmdline", default="")
    parser.add_argument("--gdb", default="gdb")
    parser.add_argument("--user", default="*",
                        help="user programs loaded as modules, to spawn by name: "
                             "comma-separated names, '*' for all (default), '' for none")
    args = parser.parse_args(argv)

    artifacts = build.build()
    gdb = find_binary(args.gdb, GDB_HINT)
    modules = user_modules(artifacts, args.user)
    run_dir = rundir.new_run_dir()
    target = profile(artifacts)
    qemu = Qemu(QemuConfig(kernel=artifacts.kernel, target=target,
                           memory=args.memory, cpu=args.cpu, cmdline=args.cmdline,
                           modules=modules), run_dir)
    qemu.start()
    try:
        qemu.wait_sockets(10)
        log = build.REPO / "artifacts" / "debug-serial.log"
        records = log.with_name("debug-records.log")
        log.parent.mkdir(exist_ok=True)
        for sock, path in (("serial.sock", log), ("records.sock", records)):
            threading.Thread(target=_copy_serial, args=(run_dir / sock, path),
                             daemon=True).start()
        print(f"serial console -> {log}   (tail -f it in another terminal)")
        print(f"record channel -> {records}")
        print("the guest is paused at reset: 'continue' to boot, Ctrl-C to stop it")
        commands = ["-ex", "set pagination off", "-ex", "set osabi none",
                    "-ex", f"target remote {run_dir / 'gdb.sock'}",
                    "-ex", "hbreak kernel_ready"]
        if GDBCMDS.exists():  # the commands, told what the profile knows
            commands = ["-ex", f"source {GDBCMDS}", "-ex",
                        "python import harness.gdbcmds.common as mm; "
                        f"mm.use_profile({target.name!r}, {target.kernel_base:#x})", *commands]
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is GDB's
        try:
            return subprocess.call([gdb, "--nx", "-q", *commands, str(artifacts.kernel)])
        finally:
            signal.signal(signal.SIGINT, previous)
    finally:
        qemu.stop()
        rundir.remove(run_dir)
