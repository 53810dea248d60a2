"""Starting and stopping qemu-system-i386.

:class:`QemuConfig` describes a machine; :func:`build_argv` turns it into a
command line (pure, unit-tested); :class:`Qemu` runs one instance in a private
run directory where the gdbstub, QMP and the two serial ports (the console and
the kernel's record channel) are unix sockets,
so any number of instances run side by side without ports to collide on.

Guest RAM is a file in the run directory (``memory-backend-file``, shared), so
the harness can map it and read physical memory at memory speed (a NUMA
machine has one file per node, see :func:`numa_args`); a small qcow2
scratch drive holds the savevm snapshots.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness import timeouts
from harness.errors import BootError, ConfigError, QmpError, ToolMissingError
from harness.machine import disks as disk_images
from harness.machine.disks import DiskSpec
from harness.machine.target import PLAIN_MULTIBOOT, TargetProfile
from harness.transport import procutil

if TYPE_CHECKING:
    from qemu.qmp.legacy import QEMUMonitorProtocol

INSTALL_HINT = ("install it with: sudo apt-get install qemu-system-x86 qemu-utils "
                "(or pass --qemu / QemuConfig.qemu with its path)")

# QEMU exit statuses chosen by the firmware through isa-debug-exit:
# status = (value << 1) | 1 for the value written to the port.
DEBUG_EXIT_PORT = 0xF4
EXIT_POWEROFF = (0x10 << 1) | 1  # 33
EXIT_PANIC = (0x31 << 1) | 1     # 99
# With -no-reboot, a guest reset (a triple fault, or a reboot request) makes
# QEMU exit with status 0.
EXIT_RESET = 0
GUEST_EXITS = {EXIT_POWEROFF: "poweroff", EXIT_PANIC: "panic", EXIT_RESET: "reset"}

BALLOON_ID = "balloon0"  # the balloon device's QOM id: /machine/peripheral/balloon0
QBOOT = Path("/usr/share/qemu/qboot.rom")
DEFAULT_CPU = "max"
DEFAULT_MEMORY = "64M"


def parse_memory(size: str | int) -> int:
    """A QEMU-style memory size ("64M", "1G", "3584M", or MiB as int) in MiB.
    Raises ConfigError for anything else, or a size out of range."""
    if isinstance(size, int):
        mib = size
    else:
        m = re.fullmatch(r"\s*(\d+)\s*([MmGg]?)[iI]?[bB]?\s*", size)
        if not m:
            raise ConfigError(f"memory size {size!r}: expected a number of MiB or e.g. '64M', '1G'")
        mib = int(m.group(1)) * (1024 if m.group(2).lower() == "g" else 1)
    # 64 GiB: what PAE's 36-bit physical addresses reach (RAM past 3 GiB
    # goes above 4 GiB, see harness.transport.physmem).
    if not 2 <= mib <= 64 << 10:
        raise ConfigError(f"memory size {size!r}: an i386 pc machine takes 2 MiB to 64 GiB")
    return mib


@dataclass(frozen=True)
class QemuConfig:
    """Everything that makes one machine different from another.

    Two equal configs boot identical machines (the snapshot cache relies on it).
    """

    kernel: Path
    target: TargetProfile = PLAIN_MULTIBOOT  # what the harness knows about the kernel
    memory: str | int = DEFAULT_MEMORY
    cpu: str = DEFAULT_CPU
    modules: tuple[str, ...] = ()    # multiboot: paths, each optionally followed by " args";
                                     # linux: the one initramfs
    cmdline: str = ""
    icount: bool = False             # -icount shift=0: one TSC tick per instruction
    record_channel: bool = True      # COM2 when the target has one; False: a machine without
    bios: str = "auto"               # "auto" (qboot if installed), "seabios", or a path
    iso: Path | None = None          # boot this CD image (GRUB) instead of -kernel
    qemu: str = "qemu-system-i386"
    extra_args: tuple[str, ...] = field(default=())
    disks: tuple[DiskSpec, ...] = ()  # IDE disks (harness.machine.disks), part of the config
    balloon: bool = False            # a virtio-balloon-pci device (harness.machine.balloon)
    numa: tuple[int, ...] = ()       # NUMA nodes' sizes in MiB, node 0 first (see numa_args)
    numa_distances: tuple[tuple[int, ...], ...] = ()  # SLIT matrix; () leaves QEMU's default
    smp: int = 1                     # vCPUs (-smp); each is a GDB thread, CPU n is thread n+1
    mttcg: bool = False              # one host thread per vCPU (real parallelism; not with icount)

    @property
    def memory_mib(self) -> int:
        return parse_memory(self.memory)

    @property
    def ram_files(self) -> tuple[tuple[str, int], ...]:
        """The RAM files in the run directory, (name, MiB), in the order QEMU
        lays them out in guest-physical memory: one per NUMA node, else one."""
        if self.numa:
            return tuple((f"ram-node{i}", mib) for i, mib in enumerate(self.numa))
        return (("ram", self.memory_mib),)

    @property
    def can_snapshot(self) -> bool:
        """savevm works on it (a disk with error rules is raw: cold boots)."""
        return disk_images.can_snapshot(self.disks)

    @property
    def has_record_channel(self) -> bool:
        """COM2 is there: the target writes records on it and it is wanted."""
        return self.record_channel and self.target.record_channel

    def validate(self) -> None:
        """Raise ConfigError for anything that would make QEMU refuse to start."""
        self.memory_mib  # noqa: B018 - parses and range-checks
        if self.iso is None and not Path(self.kernel).is_file():
            raise ConfigError(f"kernel {self.kernel} does not exist (build the firmware first: "
                              "python -m harness build)")
        if self.iso is not None and not Path(self.iso).is_file():
            raise ConfigError(f"boot image {self.iso} does not exist (make iso)")
        if self.target.boot == "iso" and self.iso is None:
            raise ConfigError(f"target {self.target.name!r} boots from an ISO: set QemuConfig.iso")
        if self.target.boot == "linux" and len(self.modules) > 1:
            raise ConfigError(f"target {self.target.name!r} (Linux boot protocol) takes one "
                              f"initramfs, got {len(self.modules)} modules")
        disk_images.validate(self.disks)
        validate_smp(self.smp, self.mttcg, self.icount)
        validate_numa(self.numa, self.numa_distances, self.memory_mib)
        for module in self.modules:
            path = module.split(" ", 1)[0]
            if not Path(path).is_file():
                raise ConfigError(f"module {path} does not exist")
            if "," in module:
                raise ConfigError(f"module {module!r}: QEMU cannot take a ',' in -initrd")


def validate_smp(smp: int, mttcg: bool, icount: bool) -> None:
    """1 to 8 vCPUs; multi-threaded TCG only without -icount: QEMU refuses
    the pair ("No MTTCG when icount is enabled"), since -icount counts every
    vCPU's instructions on one clock and so runs them all on one host thread."""
    if not isinstance(smp, int) or isinstance(smp, bool) or not 1 <= smp <= 8:
        raise ConfigError(f"smp={smp!r}: 1 to 8 vCPUs")
    if mttcg and icount:
        raise ConfigError("mttcg and icount cannot be combined: -icount runs every vCPU on one "
                          "host thread (QEMU: \"No MTTCG when icount is enabled\"); drop one")


def validate_numa(nodes: tuple[int, ...], distances: tuple[tuple[int, ...], ...],
                  memory_mib: int) -> None:
    """ConfigError unless ``nodes`` (MiB per node) add up to the machine's
    memory and ``distances`` is empty or a square matrix of the nodes' count,
    10 on its diagonal (ACPI's local distance) and 11-254 off it."""
    if not nodes:
        if distances:
            raise ConfigError("numa_distances without numa: give the nodes' sizes too")
        return
    if len(nodes) > 8 or any(not isinstance(m, int) or m < 1 for m in nodes):
        raise ConfigError(f"numa={list(nodes)}: 1 to 8 nodes, each a whole number of MiB >= 1")
    if sum(nodes) != memory_mib:
        raise ConfigError(f"numa={list(nodes)} adds up to {sum(nodes)} MiB but the machine has "
                          f"{memory_mib} MiB: leave memory out or make them equal")
    if distances:
        n = len(nodes)
        if len(distances) != n or any(len(row) != n for row in distances):
            raise ConfigError(f"numa_distances must be a {n}x{n} matrix, got {distances}")
        for i, row in enumerate(distances):
            for j, d in enumerate(row):
                if (i == j and d != 10) or (i != j and not 11 <= d <= 254):
                    raise ConfigError(f"numa_distances[{i}][{j}] = {d}: 10 on the diagonal, "
                                      "11-254 elsewhere")


def numa_args(cfg: QemuConfig, run_dir: Path) -> list[str]:
    """RAM options: one shared file for the whole RAM, or with ``cfg.numa``
    one memory-backend-file per node (ram-node0, ...: QEMU lays them one
    after another in guest-physical memory, then splits that at the PCI hole
    as it does one file), its -numa node, CPU 0 in node 0 and the distances."""
    if not cfg.numa:
        mib = cfg.memory_mib
        return ["-machine", "pc,memory-backend=ram",
                "-object", f"memory-backend-file,id=ram,size={mib}M,mem-path={run_dir / 'ram'},"
                           "share=on"]
    argv = ["-machine", "pc"]
    for i, (name, mib) in enumerate(cfg.ram_files):
        argv += ["-object", f"memory-backend-file,id={name},size={mib}M,"
                            f"mem-path={run_dir / name},share=on",
                 "-numa", f"node,nodeid={i},memdev={name}"]
    argv += ["-numa", "cpu,node-id=0,socket-id=0"]
    for i, row in enumerate(cfg.numa_distances):
        for j, d in enumerate(row):
            if j != i:
                argv += ["-numa", f"dist,src={i},dst={j},val={d}"]
    return argv


def find_binary(name: str, hint: str) -> str:
    """The full path of ``name`` (a path or a command on PATH).  Raises
    ToolMissingError, with ``hint`` on how to install it, when there is none."""
    if os.sep in name:
        if os.access(name, os.X_OK):
            return name
        raise ToolMissingError(f"{name} is not an executable file; {hint}")
    found = shutil.which(name)
    if not found:
        raise ToolMissingError(f"{name} was not found on PATH; {hint}")
    return found


def bios_args(bios: str) -> list[str]:
    if bios == "auto":
        # qboot boots a multiboot kernel in ~30 ms where SeaBIOS takes ~90.
        return ["-bios", str(QBOOT)] if QBOOT.is_file() else []
    if bios == "seabios":
        return []
    return ["-bios", bios]


def build_argv(cfg: QemuConfig, run_dir: Path, qemu_path: str) -> list[str]:
    """The qemu-system-i386 command line for ``cfg`` in ``run_dir``."""
    mib = cfg.memory_mib
    argv = [
        qemu_path,
        *(("-nodefaults",) if cfg.target.nodefaults else ()),
        "-display", "none", "-no-reboot", "-S",
        *numa_args(cfg, run_dir),
        "-cpu", cfg.cpu,
        "-m", f"{mib}M",
        "-chardev", f"socket,id=gdb0,path={run_dir / 'gdb.sock'},server=on,wait=off",
        "-gdb", "chardev:gdb0",
        "-chardev", f"socket,id=qmp0,path={run_dir / 'qmp.sock'},server=on,wait=off",
        "-mon", "chardev=qmp0,mode=control",
        "-chardev", f"socket,id=ser0,path={run_dir / 'serial.sock'},server=on,wait=off",
        "-serial", "chardev:ser0",
        "-drive", f"if=none,id=snapshots,format=qcow2,file={run_dir / 'snapshots.qcow2'}",
    ]
    if cfg.target.debug_exit:
        argv += ["-device", f"isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=0x04"]
    if cfg.has_record_channel:  # COM2 (harness.transport.record_channel)
        argv += ["-chardev", f"socket,id=ser1,path={run_dir / 'records.sock'},server=on,wait=off",
                 "-serial", "chardev:ser1"]
    if cfg.smp != 1:
        argv += ["-smp", str(cfg.smp)]
    if cfg.mttcg:
        argv += ["-accel", "tcg,thread=multi"]
    if cfg.icount:
        argv += ["-icount", "shift=0,align=off,sleep=off"]
    if cfg.iso is not None:
        argv += ["-cdrom", str(cfg.iso), "-boot", "d"]  # GRUB needs a real BIOS
    else:
        argv += bios_args(cfg.bios)
        argv += ["-kernel", str(cfg.kernel)]
        if cfg.cmdline:
            argv += ["-append", cfg.cmdline]
        if cfg.modules:
            argv += ["-initrd", ",".join(cfg.modules)]
    for disk in cfg.disks:
        argv += disk_images.drive_args(disk, run_dir)
    if cfg.balloon:  # transitional: the legacy I/O BAR0 interface the firmware drives
        argv += ["-device", f"virtio-balloon-pci,id={BALLOON_ID}"]
    argv += list(cfg.extra_args)
    return argv


_qcow2_template: dict[str, Path] = {}


def _snapshot_drive(run_dir: Path, qemu_img: str) -> None:
    """An empty qcow2 for savevm: made once per process, then copied (a copy
    costs microseconds, qemu-img ~10 ms)."""
    template = _qcow2_template.get(qemu_img)
    if template is None or not template.exists():
        tag = hashlib.sha1(qemu_img.encode()).hexdigest()[:10]  # one per qemu-img binary
        template = run_dir.parent / f"template-{tag}.qcow2"
        subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", str(template), "64M"],
                       check=True, capture_output=True)
        _qcow2_template[qemu_img] = template
    shutil.copyfile(template, run_dir / "snapshots.qcow2")


class Qemu:
    """One qemu-system-i386 process and its QMP connection."""

    def __init__(self, cfg: QemuConfig, run_dir: Path) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.proc: subprocess.Popen | None = None
        self._qmp: QEMUMonitorProtocol | None = None
        self.exit_status: int | None = None

    def start(self) -> None:
        self.cfg.validate()
        qemu = find_binary(self.cfg.qemu, INSTALL_HINT)
        qemu_img = find_binary(str(Path(qemu).with_name("qemu-img")) if os.sep in self.cfg.qemu
                               else "qemu-img", INSTALL_HINT)
        _snapshot_drive(self.run_dir, qemu_img)
        self.qemu_img = qemu_img
        for disk in self.cfg.disks:
            disk_images.prepare(disk, self.run_dir, qemu_img)
        self.argv = build_argv(self.cfg, self.run_dir, qemu)
        (self.run_dir / "qemu-argv.txt").write_text(" ".join(self.argv) + "\n")
        with open(self.run_dir / "qemu-stderr.log", "wb") as stderr:
            self.proc = procutil.spawn(self.argv, stderr=stderr)

    def wait_sockets(self, timeout: float) -> None:
        """Wait until QEMU has created its sockets (or died).  Raises BootError,
        with QEMU's stderr, when they are not there in ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        names = ("gdb.sock", "qmp.sock", "serial.sock",
                 *(("records.sock",) if self.cfg.has_record_channel else ()))
        while not all((self.run_dir / n).exists() for n in names):
            if self.poll() is not None:
                return
            if time.monotonic() > deadline:
                missing = [n for n in names if not (self.run_dir / n).exists()]
                raise BootError(f"QEMU did not create {', '.join(missing)} within {timeout:.1f} s "
                                f"(run directory {self.run_dir}); its stderr: "
                                f"{self.stderr_text().strip() or '(empty)'}")
            time.sleep(0.001)

    def poll(self) -> int | None:
        if self.proc is not None and self.exit_status is None:
            self.exit_status = self.proc.poll()
        return self.exit_status

    def stderr_text(self) -> str:
        try:
            return (self.run_dir / "qemu-stderr.log").read_text(errors="replace")
        except OSError:
            return ""

    # -- QMP -------------------------------------------------------------------

    def qmp(self) -> QEMUMonitorProtocol:
        """The QMP connection (qemu.qmp's synchronous client), made on first
        use.  Raises QmpError when it cannot connect."""
        if self._qmp is None:
            from qemu.qmp.legacy import QEMUMonitorProtocol
            conn = QEMUMonitorProtocol(str(self.run_dir / "qmp.sock"))
            try:
                conn.connect()
            except Exception as exc:
                raise QmpError(f"cannot connect to QMP: {exc}") from exc
            conn.settimeout(timeouts.scaled(timeouts.QMP))
            self._qmp = conn
        return self._qmp

    def command(self, name: str, *, timeout: float | None = None, **args: object) -> object:
        """Execute a QMP command and return its result; raises QmpError with
        QEMU's message on failure.  ``timeout`` (seconds, already scaled)
        replaces the usual QMP wait for this command only."""
        try:
            conn = self.qmp()
            if timeout is None:
                return conn.cmd(name, **args)
            conn.settimeout(timeout)
            try:
                return conn.cmd(name, **args)
            finally:
                conn.settimeout(timeouts.scaled(timeouts.QMP))
        except QmpError:
            raise
        except Exception as exc:
            raise QmpError(f"QMP {name} failed: {exc}") from exc

    def hmp(self, command_line: str, *, timeout: float | None = None,
            cpu: int | None = None) -> str:
        """A human-monitor command (``info tlb``, ``savevm x``) and its output;
        with ``cpu``, the monitor's current vCPU is that cpu_index (QMP's
        cpu-index: HMP's ``cpu N`` would not outlive its one command).
        Raises QmpError when QMP fails or answers with anything but text;
        ``timeout`` as for :meth:`command`."""
        args: dict[str, object] = {"command-line": command_line}
        if cpu is not None:
            args["cpu-index"] = cpu
        out = self.command("human-monitor-command", timeout=timeout, **args)
        if not isinstance(out, str):
            raise QmpError(f"human-monitor-command {command_line!r} returned {out!r}, not text")
        return out

    # -- stopping ----------------------------------------------------------------

    def stop(self, *, kill: bool = False) -> int | None:
        """Quit QEMU (QMP quit, then signals); returns its exit status.  With
        ``kill``, SIGKILL first, so nothing waits on QEMU or its monitor."""
        if self.proc is None:
            return self.exit_status
        if kill:
            procutil.terminate(self.proc, grace=0)
        elif self.proc.poll() is None and self._qmp is not None:
            try:
                self._qmp.cmd("quit")
            except Exception:
                pass
        if self._qmp is not None:
            try:
                self._qmp.close()
            except Exception:
                pass
            self._qmp = None
        status = procutil.terminate(self.proc, grace=1.0)
        if self.exit_status is None:
            self.exit_status = status
        self.proc = None
        return self.exit_status
