"""Machine: one QEMU, one GDB and one serial console, driven as a unit.

This is the object tests talk to::

    with Machine.boot(memory="64M", cmdline="aslr=off") as m:
        m.run_to("kernel_ready")
        p = m.call("agent_nop", 7)
        m.write(addr, b"..."); m.read(addr, 4); m.read_phys(0x100000, 4)
        m.registers("eip", "cr3"); m.monitor("info tlb")

Every wait has a timeout (``harness.timeouts``); when QEMU exits, the wait in
progress raises at once (:class:`MachineDied`, or :class:`GuestPanic` with the
kernel's PANIC record), and every error carries the serial and MI tails.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, overload

from harness import timeouts
from harness.decode.mi_text import mi_quote
from harness.decode.modes import PagingMode
from harness.decode.qemunuma import QemuNode, parse_info_numa
from harness.decode.records import Record
from harness.errors import (
    BootError,
    ConfigError,
    GdbError,
    GuestPanic,
    GuestTimeout,
    HarnessError,
    MachineDied,
    QmpError,
    TargetStateError,
    ToolMissingError,
)
from harness.machine import balloon
from harness.machine.calls import Calls, Watchdog
from harness.machine.cpus import Cpus, CpuView
from harness.machine.disks import DiskSpec, blockstats_by_name, find_qemu_io, read_image
from harness.machine.qemu import GUEST_EXITS, Qemu, QemuConfig, find_binary
from harness.machine.state import BOOT_CPU_THREAD, AnyAddressSpace, AnyTranslation, GuestState
from harness.transport import procutil, rundir
from harness.transport.console import Console
from harness.transport.gdbmi import MiClient, StopEvent
from harness.transport.physmem import GuestRam
from harness.transport.record_channel import Mark, RecordChannel

GDB_HINT = "install it with: sudo apt-get install gdb (or pass --gdb with its path)"

# Settings for a bare-metal i386 target behind QEMU's gdbstub.
GDB_SETUP = (
    "-gdb-set mi-async on",            # so -exec-interrupt works while running
    "-gdb-set pagination off",
    "-gdb-set confirm off",
    "-gdb-set width 0",
    "-gdb-set height 0",
    "-gdb-set osabi none",
    "-gdb-set architecture i386",
    "-gdb-set stack-cache off",        # memory may change under GDB (loadvm, RAM writes)
    "-gdb-set code-cache off",
    "-gdb-set unwindonsignal on",      # an interrupted inferior call unwinds its frame
    "-gdb-set breakpoint pending off",
    "-gdb-set breakpoint always-inserted on",  # no remove/re-insert around every stop
    "-gdb-set print pretty off",
)

def reason_of(error: HarnessError) -> str:
    """An error's message without the serial and MI tails."""
    return getattr(error, "reason", str(error))


def location(where: str | int) -> str:
    """A breakpoint location for an exact address: a symbol or a number."""
    return f"*{where:#x}" if isinstance(where, int) else f"*{where}"


class Machine:
    """A booted (or booting) machine.  Use :meth:`boot`, or construct and
    :meth:`start`; always :meth:`close` (or use ``with``).

    Every method that talks to the guest raises TargetStateError when the
    machine is not started, is gone or broken, or (for those that need it
    stopped) the guest runs; MachineDied (GuestPanic) when QEMU exits on the
    way.  The docstrings name the other errors.

    Kernel calls are :class:`harness.machine.calls.Calls`' work, registers,
    memory and page tables :class:`harness.machine.state.GuestState`'s; the
    machine holds one of each and forwards to them."""

    def __init__(self, cfg: QemuConfig, *, gdb: str = "gdb") -> None:
        self.cfg = cfg
        self.gdb_binary = gdb
        self.run_dir: Path | None = None
        self.qemu: Qemu | None = None
        self.gdb: MiClient | None = None
        self.console: Console | None = None
        self.record_channel: RecordChannel | None = None
        self.ram: GuestRam | None = None
        self._qemu_fd: int | None = None
        self.dead: MachineDied | None = None
        self.broken: str | None = None  # why the machine's state cannot be trusted any more
        self.keep_run_dir = False
        self.last_stop: StopEvent | None = None
        self._state = GuestState(self)  # CPU 0's view
        self._calls = Calls(self)
        self._cpus = Cpus(self)

    # -- lifecycle ---------------------------------------------------------------

    @classmethod
    def boot(cls, kernel: Path | str, *, gdb: str = "gdb", **options: Any) -> Machine:
        """Start QEMU paused at reset with GDB attached.  ``options`` are
        :class:`QemuConfig` fields (target, memory, cpu, modules, cmdline...).
        Raises BootError, ToolMissingError or ConfigError."""
        kernel = Path(kernel)
        if "modules" in options:
            options["modules"] = tuple(str(m) for m in options["modules"])
        machine = cls(QemuConfig(kernel=kernel, **options), gdb=gdb)
        machine.start()
        return machine

    def start(self) -> None:
        """Start QEMU and GDB in parallel and connect everything.  Raises
        ToolMissingError or ConfigError before anything runs, and BootError,
        with the serial and MI tails, for any other failure to start."""
        self.cfg.validate()
        gdb_path = find_binary(self.gdb_binary, GDB_HINT)
        self.run_dir = rundir.new_run_dir()
        try:
            self.qemu = Qemu(self.cfg, self.run_dir)
            self.qemu.start()
            symbols = self.cfg.target.symbol_file
            self.gdb = MiClient([gdb_path, "--nx", "--quiet", "--interpreter=mi3",
                                 *((str(symbols),) if symbols else ())], log_dir=self.run_dir)
            self.gdb.serial_tail = self._serial_tail
            self.gdb.check_target = self._raise_if_dead
            self.gdb.start()
            deadline = time.monotonic() + timeouts.scaled(timeouts.BOOT)
            self.qemu.wait_sockets(deadline - time.monotonic())
            if self.qemu.poll() is not None:
                raise BootError(f"QEMU exited at start with status {self.qemu.exit_status}:\n"
                                f"{self.qemu.stderr_text().strip()}")
            self.console = Console.connect(self.run_dir / "serial.sock",
                                           self.run_dir / "serial.log",
                                           deadline - time.monotonic())
            self.gdb.watch(self.console.fileno(), self.console.drain)
            if self.cfg.has_record_channel:
                self.record_channel = RecordChannel.connect(self.run_dir / "records.sock",
                                                            self.run_dir / "records.log",
                                                            deadline - time.monotonic())
                self.gdb.watch(self.record_channel.fileno(), self.record_channel.drain)
                self.console.companions.append(self.record_channel)
            self._qemu_fd = procutil.pidfd(self.qemu.proc) if self.qemu.proc else None
            if self._qemu_fd is not None:
                self.gdb.watch(self._qemu_fd, self._on_qemu_exit)
            setup = GDB_SETUP if symbols else (*GDB_SETUP, "-gdb-set architecture i386")
            tokens = [(self.gdb.send(c), c) for c in setup]
            tokens.append((self.gdb.send(f"-target-select remote {self.run_dir / 'gdb.sock'}"),
                           "-target-select"))
            for token, command in tokens:
                self.gdb.result(token, command, deadline - time.monotonic())
            self.ram = GuestRam([self.run_dir / name for name, _mib in self.cfg.ram_files],
                                self.cfg.memory_mib << 20)
        except (ToolMissingError, ConfigError):
            self.close()
            raise
        except Exception as exc:  # a harness error or not (an OSError from a socket)
            tails = self.tails()
            self.close()
            reason = reason_of(exc) if isinstance(exc, HarnessError) else (
                f"{type(exc).__name__}: {exc}")
            raise BootError(reason if isinstance(exc, BootError) else
                            f"machine did not start: {reason}", **tails) from exc
        except BaseException as exc:  # a Ctrl-C too: no QEMU or GDB may outlive a failed start
            self.close(kill=isinstance(exc, KeyboardInterrupt))
            raise

    def close(self, *, kill: bool = False) -> None:
        """Stop GDB and QEMU and remove the run directory (unless kept).
        Safe to call more than once and on a half-started machine.  With
        ``kill`` (an interrupted run), both get SIGKILL at once: nothing waits
        on the guest, GDB or QMP."""
        if self.gdb is not None:
            self.gdb.close(kill=kill)
            self.gdb = None
        if self.qemu is not None:
            self.qemu.stop(kill=kill)
        if self._qemu_fd is not None:
            procutil.close_fd(self._qemu_fd)
            self._qemu_fd = None
        if self.console is not None:
            self.console.close()
            self.console = None
        if self.record_channel is not None:
            self.record_channel.close()
            self.record_channel = None
        if self.ram is not None:
            self.ram.close()
            self.ram = None
        if self.run_dir is not None and not self.keep_run_dir:
            rundir.remove(self.run_dir)

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        """QEMU and GDB run, and the machine is in a state the harness knows;
        the pool replaces a machine that is not."""
        return (self.dead is None and self.broken is None and self.qemu is not None
                and self.qemu.poll() is None and self.gdb is not None and self.gdb.alive())

    # -- errors ------------------------------------------------------------------

    def _serial_tail(self, lines: int = 25) -> str:
        return self.console.tail(lines) if self.console else ""

    def _mi_tail(self) -> str:
        return self.gdb.tail() if self.gdb else ""

    def _on_qemu_exit(self) -> None:
        """QEMU's pidfd became readable: it exited.  Raise the matching error."""
        self._raise_if_dead("qemu exited")

    def _raise_if_dead(self, gdb_message: str) -> None:
        """Called before GDB errors are raised: when QEMU has exited (GDB often
        notices first, as "Remote connection closed"), raise that instead."""
        if self.qemu is None or self.qemu.proc is None or self.dead is not None:
            return
        lost = re.search(r"connection closed|disconnected|broken pipe|remote communication",
                         gdb_message, re.IGNORECASE)
        grace = 2.0 if lost else 0.0
        try:
            status = self.qemu.proc.wait(grace)
        except subprocess.TimeoutExpired:
            return
        self.qemu.exit_status = status
        if self.gdb is not None and self._qemu_fd is not None:
            self.gdb.unwatch(self._qemu_fd)
        if self.console:
            self.console.drain()
        if self.record_channel:
            self.record_channel.drain()
        self.dead = self._death_error(status)
        raise self.dead

    def _death_error(self, status: int | None) -> MachineDied:
        tail, mi = self._serial_tail(), self._mi_tail()
        panic = self._panic(status)
        if panic is not None:
            return GuestPanic(f"the kernel panicked: {panic.get('msg', '?')}", exit_status=status,
                              panic=panic or None, serial_tail=tail, mi_tail=mi)
        guest_exit = GUEST_EXITS.get(status) if status is not None else None
        detail = f"guest {guest_exit}" if guest_exit else f"status {status}"
        stderr = self.qemu.stderr_text().strip() if self.qemu else ""
        return MachineDied(f"QEMU exited ({detail}){': ' + stderr if stderr else ''}",
                           exit_status=status, guest_exit=guest_exit, serial_tail=tail,
                           mi_tail=mi)

    def _panic(self, status: int | None) -> dict[str, str] | None:
        """How the kernel said it panicked, as the target profile tells it to be
        read ({} when it did not say what); None when it did not panic."""
        target = self.cfg.target
        if target.panic_exit_status is not None and status == target.panic_exit_status:
            records = (self.record_channel.records(target.panic_record)
                       if self.record_channel and target.panic_record else [])
            return dict(records[-1].fields) if records else {}
        if target.panic_serial and self.console is not None:
            found = re.search(target.panic_serial, self.console.text(), re.MULTILINE)
            if found:
                return {"msg": found.group(1) if found.groups() else found.group(0)}
        return None

    def tails(self) -> dict[str, str]:
        """The serial and GDB/MI tails, as keyword arguments of a MachineError."""
        return {"serial_tail": self._serial_tail(), "mi_tail": self._mi_tail()}

    @property
    def memory_mib(self) -> int:
        """Guest RAM in MiB, as configured."""
        return self.cfg.memory_mib

    def require_gdb(self, what: str) -> MiClient:
        """GDB, for a command that needs the guest stopped and the machine
        trusted.  Raises TargetStateError saying why it cannot ``what`` (not
        started, gone, broken, running)."""
        if self.dead is not None:
            raise TargetStateError(f"cannot {what}: the machine is gone ({self.dead.reason})",
                                   serial_tail=self._serial_tail())
        gdb = self._started(what)
        broken = self.broken or gdb.broken
        if broken is not None:
            raise TargetStateError(f"cannot {what}: the machine is broken ({broken}); use a "
                                   "new one", serial_tail=self._serial_tail())
        gdb.require_stopped(what)
        return gdb

    def _started(self, what: str) -> MiClient:
        """GDB, running guest or not; TargetStateError before start() or after close()."""
        if self.gdb is None:
            raise TargetStateError(f"cannot {what}: the machine is not started (start() it, "
                                   "or use Machine.boot) or already closed",
                                   serial_tail=self._serial_tail())
        return self.gdb

    # -- running -------------------------------------------------------------------

    @overload
    def cont(self, *, wait: Literal[True] = ..., timeout: float | None = None) -> StopEvent: ...

    @overload
    def cont(self, *, wait: Literal[False], timeout: float | None = None) -> None: ...

    @overload
    def cont(self, *, wait: bool, timeout: float | None = None) -> StopEvent | None: ...

    def cont(self, *, wait: bool = True, timeout: float | None = None) -> StopEvent | None:
        """Resume the guest; with ``wait``, return the next stop (also kept as
        ``last_stop``).  Raises TargetStateError when the guest is not stopped
        or the machine cannot be used, and what :meth:`wait_stopped` raises."""
        gdb = self.require_gdb("continue")
        gdb.drain_stops()  # stale stops (the connect-time one) are not this run's
        gdb.command("-exec-continue")
        if not wait:
            return None
        return self.wait_stopped(timeout)

    def wait_stopped(self, timeout: float | None = None) -> StopEvent:
        """Wait for the running guest to stop.  On timeout the guest is
        interrupted (so the machine stays usable) and GuestTimeout raised; if
        it will not stop even then, the machine is marked broken.  Raises
        TargetStateError on a machine not started, MachineDied (GuestPanic)
        when QEMU exits, GdbError when GDB loses it."""
        gdb = self._started("wait for a stop")
        timeout = timeouts.scaled(timeouts.RUN) if timeout is None else timeout
        try:
            self.last_stop = gdb.wait_stopped(timeout)
        except GuestTimeout as exc:
            try:
                self.interrupt()
            except HarnessError as stuck:
                self.broken = f"the guest did not stop when interrupted: {reason_of(stuck)}"
                raise GuestTimeout(f"{exc.reason}; {self.broken}", serial_tail=exc.serial_tail,
                                   mi_tail=self._mi_tail()) from stuck
            raise
        if self.last_stop.reason.startswith("exited"):  # GDB lost QEMU
            self._raise_if_dead("remote connection closed")
            raise GdbError(f"gdb reports the target {self.last_stop.reason} but QEMU runs",
                           serial_tail=self._serial_tail(), mi_tail=self._mi_tail())
        self.last_stop.cpu = self._cpus.cpu_of(gdb, self.last_stop.thread)
        self._calls.after_stop(self.last_stop)
        return self.last_stop

    def interrupt(self) -> StopEvent | None:
        """Stop a running guest; returns the stop (None if it was not running).
        Raises TargetStateError on a machine not started, GuestTimeout when
        the guest does not stop."""
        gdb = self._started("interrupt the guest")
        if not gdb.running:
            return None
        gdb.command("-exec-interrupt")
        return gdb.wait_stopped(timeouts.scaled(timeouts.COMMAND))

    def run_to(self, where: str | int, timeout: float | None = None, *,
               cpu: int | None = 0) -> StopEvent:
        """Run until ``cpu`` executes ``where`` (a symbol or an address); any
        CPU with ``cpu=None``.  CPU 0 by default, because the machine's
        registers and memory are CPU 0's: with several CPUs running the same
        kernel code, a stop on another one would leave the caller reading
        CPU 0 somewhere else.  Raises GuestTimeout naming the location, with
        the serial tail, when it does not get there in time; GdbError when it
        stops somewhere else; IndexError for a vCPU the machine does not have."""
        gdb = self.require_gdb(f"run to {where}")
        only = "" if cpu is None else f" -p {self._cpus.thread_of(cpu)}"
        gdb.command(f"-break-insert -t{only} {location(where)}")
        try:
            stop = self.cont(timeout=timeout)
        except GuestTimeout as exc:
            if self.broken is None:
                self.delete_breakpoints()
            raise GuestTimeout(f"the guest did not reach {where}: {exc.reason}",
                               serial_tail=exc.serial_tail, mi_tail=exc.mi_tail) from None
        target = where if isinstance(where, int) else self.symbol(where)
        if stop.addr != target:
            raise GdbError(f"expected to stop at {where} ({target:#x}), stopped at "
                           f"{stop.addr and hex(stop.addr)} ({stop.reason})",
                           serial_tail=self._serial_tail(), mi_tail=self._mi_tail())
        return stop

    def break_at(self, where: str | int, *, hardware: bool = False, temporary: bool = False,
                 condition: str | None = None, cpu: int | None = None) -> int:
        """Set a breakpoint at an exact address/symbol; returns its number.
        With ``cpu``, only that vCPU stops there (GDB resumes the others by
        itself, each hit a stop and a resume: keep such breakpoints off code
        every CPU runs all the time).  Raises GdbError for a symbol GDB does
        not know, IndexError for a vCPU the machine does not have."""
        gdb = self.require_gdb("set a breakpoint")
        flags = " -h" * hardware + " -t" * temporary
        if cpu is not None:
            flags += f" -p {self._cpus.thread_of(cpu)}"
        if condition:
            flags += f" -c {mi_quote(condition)}"
        return int(gdb.command(f"-break-insert{flags} {location(where)}").payload["bkpt"]["number"])

    def watch(self, expression: str, *, kind: str = "write") -> int:
        """Set a watchpoint (kind: write, read, access); returns its number.
        Raises KeyError for another kind, GdbError for an expression GDB
        cannot watch."""
        gdb = self.require_gdb("set a watchpoint")
        flag = {"write": "", "read": " -r", "access": " -a"}[kind]
        # GDB evaluates the expression (and the pointers in it) on the thread
        # it names: CPU 0's, like every other read of the machine.
        result = gdb.command(f"-break-watch --thread {BOOT_CPU_THREAD}{flag} "
                             f"{mi_quote(expression)}").payload
        wpt = result.get("wpt") or result.get("hw-rwpt") or result.get("hw-awpt") or {}
        return int(wpt["number"])

    def delete_breakpoints(self) -> None:
        """Delete every breakpoint and watchpoint (but the one that ends a
        pending call, which is put back)."""
        self.require_gdb("delete breakpoints").command("-break-delete")
        self._calls.breakpoints_deleted()

    def delete_breakpoint(self, number: int) -> None:
        self.require_gdb("delete a breakpoint").command(f"-break-delete {number}")

    # -- snapshots -----------------------------------------------------------------------

    def save_snapshot(self, name: str) -> None:
        """savevm ``name`` on the qcow2 scratch drive (the guest must be
        stopped).  Raises QmpError with QEMU's message when it fails."""
        self.require_gdb("save a snapshot")
        self._monitor_checked(f"savevm {name}")

    def restore_snapshot(self, name: str) -> None:
        """loadvm ``name``, then make GDB forget what it knew: registers are
        re-read, breakpoints and watchpoints are deleted, stale stops dropped.
        Raises QmpError with QEMU's message when there is no such snapshot."""
        gdb = self.require_gdb("restore a snapshot")
        self._monitor_checked(f"loadvm {name}")
        flush = gdb.send("-interpreter-exec console \"maintenance flush register-cache\"")
        delete = gdb.send("-break-delete")
        gdb.result(flush, "flush register-cache")
        gdb.result(delete, "-break-delete")
        gdb.drain_stops()
        self._calls.forget()

    def _monitor_checked(self, command: str) -> None:
        # savevm/loadvm report failure as text, not as a QMP error; they
        # copy all of guest RAM, so their wait grows with it.
        if self.qemu is None or self.dead is not None:
            raise TargetStateError(f"cannot run monitor command {command!r}: machine is gone")
        out = self.qemu.hmp(command, timeout=timeouts.snapshot(self.cfg.memory_mib)).strip()
        if out:
            raise QmpError(f"{command!r} failed: {out}", serial_tail=self._serial_tail())

    # -- disks (harness.machine.disks) -------------------------------------------------

    def _disk(self, name: str) -> DiskSpec:
        for disk in self.cfg.disks:
            if disk.name == name:
                return disk
        raise ConfigError(f"this machine has no disk {name!r} (its disks: "
                          f"{', '.join(d.name for d in self.cfg.disks) or 'none'})")

    def disk_path(self, name: str) -> Path:
        """The image of disk ``name`` in the run directory (qcow2; raw for a
        disk with error rules).  Raises ConfigError for a disk it does not have."""
        disk = self._disk(name)
        if self.run_dir is None:
            raise TargetStateError("the machine is not started: its disks do not exist yet")
        return self.run_dir / disk.file_name()

    def read_disk(self, name: str, offset: int, length: int) -> bytes:
        """``length`` bytes at byte ``offset`` of disk ``name``, read on the
        host from its image (also while QEMU runs, or after it was killed)."""
        path = self.disk_path(name)
        qemu_img = self.qemu.qemu_img if self.qemu is not None else "qemu-img"
        return read_image(path, self._disk(name).format, offset, length, find_qemu_io(qemu_img))

    def blockstats(self) -> dict[str, dict[str, int]]:
        """QMP query-blockstats for this machine's disks: {name: {rd_operations,
        wr_operations, rd_bytes, wr_bytes, flush_operations, failed_*}}."""
        if self.qemu is None or self.dead is not None:
            raise TargetStateError("cannot query block stats: machine is gone")
        return blockstats_by_name(self.qemu.command("query-blockstats"),
                                  tuple(d.name for d in self.cfg.disks))

    # -- QEMU's monitor and the console ---------------------------------------------------

    def numa_info(self) -> list[QemuNode]:
        """QEMU's NUMA nodes (`info numa`: each node's CPUs and MiB); [] on a
        machine without -numa."""
        return parse_info_numa(self.monitor("info numa"))

    def monitor(self, command: str, *, cpu: int | None = None) -> str:
        """A QEMU human-monitor command (``info tlb``, ``info mem``, ``xp``...)
        and its output; with ``cpu``, run on that vCPU (``info registers``,
        ``info mem`` and ``info tlb`` read the monitor's current vCPU, 0
        otherwise).  Raises TargetStateError when QEMU is gone or not
        started, QmpError when the monitor refuses the command (a vCPU that
        is not there)."""
        if self.qemu is None or self.dead is not None:
            raise TargetStateError(f"cannot run monitor command {command!r}: machine is gone")
        return self.qemu.hmp(command, cpu=cpu)

    # -- the virtio balloon (QemuConfig.balloon; harness.machine.balloon) ------------------

    def _balloon_qmp(self, what: str) -> Qemu:
        if self.qemu is None or self.dead is not None:
            raise TargetStateError(f"cannot {what}: machine is gone")
        if not self.cfg.balloon:
            raise ConfigError(f"cannot {what}: the machine has no balloon device "
                              "(machine marker balloon=True)")
        return self.qemu

    def balloon(self, mib: int) -> None:
        """QMP ``balloon``: ask the guest to shrink (or grow back) to ``mib`` MiB.
        The guest does it while it runs (see :meth:`run_until_balloon`)."""
        balloon.set_size(self._balloon_qmp("set the balloon"), mib)

    def query_balloon(self) -> int:
        """QMP ``query-balloon``: the guest's size in bytes as QEMU sees it."""
        return balloon.size_bytes(self._balloon_qmp("query the balloon"))

    def run_until_balloon(self, mib: int, timeout: float | None = None) -> float:
        """Let a stopped guest run until query-balloon reports ``mib`` MiB, then
        stop it; the seconds that took.  Raises GuestTimeout (the guest stopped
        again) when it does not get there."""
        qmp = self._balloon_qmp("wait for the balloon")
        self.cont(wait=False)
        try:
            return balloon.wait_size(qmp, mib, timeout or timeouts.scaled(timeouts.COMMAND),
                                     self.drain_serial)
        finally:
            self.interrupt()

    def drain_serial(self) -> None:
        """Read what the guest wrote to its serial ports (the console and the
        record channel) so far; for a caller that lets the guest run and
        waits on something else than GDB (which drains them while it waits):
        a guest finding no room would wait at its next line."""
        if self.console is not None:
            self.console.drain()
        if self.record_channel is not None:
            self.record_channel.drain()

    def poll_guest_stats(self, seconds: int) -> None:
        """Have QEMU ask the guest's balloon for statistics every ``seconds``."""
        balloon.poll_stats(self._balloon_qmp("poll the guest's statistics"), seconds)

    def guest_stats(self) -> dict:
        """The balloon's last guest statistics (QOM ``guest-stats``)."""
        return balloon.guest_stats(self._balloon_qmp("read the guest's statistics"))

    def expect(self, pattern: str | list[str], timeout: float | None = None) -> int:
        """Wait for ``pattern`` (regex, or a list of them) on the serial console
        while the guest runs; returns the index of the match.  Raises
        GuestTimeout when it does not appear in time, MachineDied (GuestPanic)
        when QEMU exits first, TargetStateError on a machine not started."""
        if self.console is None:
            raise TargetStateError(f"cannot wait for {pattern!r} on the serial console: the "
                                   "machine is not started (start() it first)")
        import pexpect

        timeout = timeouts.scaled(timeouts.SERIAL) if timeout is None else timeout
        try:
            return self.console.expect(pattern, timeout=timeout)
        except pexpect.TIMEOUT:
            raise GuestTimeout(f"{pattern!r} did not appear on the serial console within "
                               f"{timeout:.1f} s", serial_tail=self._serial_tail(),
                               mi_tail=self._mi_tail()) from None
        except pexpect.EOF:
            if self.qemu is not None and self.qemu.proc is not None:
                self.qemu.exit_status = self.qemu.proc.wait(5)
            raise self._death_error(self.qemu.exit_status if self.qemu else None) from None

    def mark(self) -> Mark:
        """Where the record channel is now: pass it to records() as ``since``.
        Raises ConfigError on a machine without a record channel."""
        return self._records_channel().mark()

    def records(self, tag: str | None = None, since: Mark | int = 0) -> list[Record]:
        """The kernel's structured records (see harness.decode.records) from ``since``
        (a :meth:`mark`), read from its record channel: nothing a user program
        prints can add, hide or change one (their output is in OUT records,
        read through Userland.output).  Raises ConfigError on a machine
        without a record channel, TypeError when ``since`` is not a mark
        (a console offset, say)."""
        return self._records_channel().records(tag, since)

    def _records_channel(self) -> RecordChannel:
        if self.record_channel is None:
            raise ConfigError("this machine has no record channel (QemuConfig "
                              "record_channel=False, or it is not started): its records are "
                              "only on the console, for people")
        return self.record_channel

    def wait_exit(self, timeout: float | None = None) -> int:
        """Let the guest run until QEMU exits; returns QEMU's exit status.
        Raises GuestTimeout when it runs on, GdbError when it stops instead,
        TargetStateError on a machine not started."""
        gdb = self._started("wait for the guest to exit")
        timeout = timeouts.scaled(timeouts.RUN) if timeout is None else timeout
        try:
            if not gdb.running:
                gdb.command("-exec-continue")
            gdb.wait_stopped(timeout)
        except MachineDied as died:
            return died.exit_status if died.exit_status is not None else -1
        except GdbError:
            if self.qemu is not None and self.qemu.proc is not None:
                return self.qemu.proc.wait(timeouts.scaled(timeouts.COMMAND))
            raise
        raise GdbError("the guest stopped instead of exiting", serial_tail=self._serial_tail(),
                       mi_tail=self._mi_tail())

    # -- kernel calls and expressions (harness.machine.calls) -----------------------------

    def call(self, function: str | int, *args: int, timeout: float | None = None) -> int | None:
        """Call a kernel function with integer arguments; returns its result
        (signed if the function returns a signed type, None for void).

        How depends on the target profile's ``call_method``: "gdb" is GDB's
        inferior call; "gate" goes through the kernel's own call gate
        (``TargetProfile.call_gate``) rather than GDB's inferior-call
        machinery, which restores every register after the call, CR3 included:
        through the gate a callee that switches address spaces leaves them
        switched, as a call from kernel code would.  EIP and ESP are
        restored.  A breakpoint inside the callee raises CallStopped;
        ``cont()`` later finishes the call.  A call that does not return in
        time is interrupted, every register in CALL_SAVED put back as it was
        before the call (and checked), and GuestTimeout raised; if they cannot
        be put back, the machine is marked broken (the pool replaces it).
        Raises ConfigError on a target without a call method,
        TargetStateError while another call is pending, in user mode, or
        when the machine cannot be used."""
        return self._calls.call(function, args, timeout)

    @contextlib.contextmanager
    def watching(self, watchdog: Watchdog) -> Iterator[None]:
        """Within the block, calls through the gate are interrupted every
        ``watchdog.period`` seconds for ``watchdog.look()``, which may end
        them with HungGuest (see harness.machine.progress.ProgressWatch)."""
        self._calls.watchdog = watchdog
        try:
            yield
        finally:
            self._calls.watchdog = None

    def call_value(self, function: str | int, *args: int, timeout: float | None = None) -> int:
        """:meth:`call` for a function that returns a value: its result, never
        None.  Raises ArgumentError (before calling) when the function returns
        void, and what :meth:`call` raises."""
        return self._calls.call_value(function, args, timeout)

    def evaluate(self, expression: str, timeout: float | None = None) -> str:
        """Evaluate a C expression in GDB; returns GDB's text of the value.
        Raises GdbError when GDB cannot evaluate it."""
        return self._calls.evaluate(expression, timeout)

    def symbol(self, name: str) -> int:
        """Address of a kernel symbol (cached).  Raises GdbError when there is
        no such symbol."""
        return self._calls.symbol(name)

    # -- every vCPU (harness.machine.cpus) ---------------------------------------------

    def cpus(self) -> list[CpuView]:
        """Every vCPU, by index, as GDB sees it now (one GDB thread each):
        index, GDB thread, halted, and per-CPU registers, memory, page
        tables, backtrace and monitor.  Raises GdbError when GDB's threads
        are not QEMU's vCPUs."""
        return self._cpus.views()

    def on_cpu(self, cpu: int) -> CpuView:
        """vCPU ``cpu``'s view: its registers, reads through its CR3, its
        walk and backtrace (see harness.machine.cpus.CpuView).  The
        machine's own registers(), read() and call() are CPU 0's.  Raises
        IndexError for a vCPU the machine does not have."""
        return self._cpus.view(cpu)

    # -- registers (harness.machine.state) --------------------------------------------

    def registers(self, *names: str) -> dict[str, int]:
        """Current values of CPU 0's named registers (CORE_REGISTERS when none
        are named), including cr0, cr2, cr3 and cr4 (:meth:`on_cpu` for another
        vCPU's).  Raises KeyError naming a
        register this target does not have or that is not an integer."""
        return self._state.registers(*names)

    def reg(self, name: str) -> int:
        """One register's value.  Raises KeyError as :meth:`registers` does."""
        return self._state.reg(name)

    def set_reg(self, name: str, value: int) -> None:
        """Write one register.  Raises KeyError for an unknown register."""
        self._state.write_registers(**{name: value})

    def write_registers(self, **values: int) -> None:
        """Write registers of CPU 0 in one command.  Raw registers,
        whatever frame GDB has selected (``$eip = ...`` in an expression would
        write the selected frame's saved PC instead when it is not frame 0).
        Raises KeyError for an unknown register."""
        self._state.write_registers(**values)

    # -- memory (harness.machine.state) -------------------------------------------------

    def read(self, addr: int, size: int) -> bytes:
        """Read guest-virtual memory (through CPU 0's current page tables).

        Up to GDB_READ_LIMIT bytes go through GDB; larger reads are translated
        by the harness's page-table walk and served from the RAM file, so they
        take milliseconds instead of outlasting GDB's command timeout.  An
        unmapped page raises GdbError naming it; a range outside the 32-bit
        address space raises MemoryRangeError."""
        return self._state.read(addr, size)

    def write(self, addr: int, data: bytes) -> None:
        """Write guest-virtual memory (GDB's debug access ignores page
        protections).  Raises MemoryRangeError for a range outside the 32-bit
        address space, GdbError for an unmapped page."""
        self._state.write(addr, data)

    def read_u32(self, addr: int) -> int:
        """A little-endian 32-bit word of guest-virtual memory; raises as :meth:`read`."""
        return self._state.read_u32(addr)

    def write_u32(self, addr: int, value: int) -> None:
        """Write a little-endian 32-bit word; raises as :meth:`write`."""
        self._state.write_u32(addr, value)

    def physical_end(self) -> int:
        """The end of guest-physical RAM below 4 GiB (the RAM 32-bit paging
        reaches; with 3.5 GiB or more QEMU puts the rest at 4 GiB, see
        :meth:`ram_ranges`)."""
        return self._state.physical_end()

    def ram_ranges(self) -> list[tuple[int, int]]:
        """Every guest-physical RAM range [start, end): [(0, physical_end)],
        plus (4 GiB, 4 GiB + the rest) when QEMU splits RAM around the hole
        below 4 GiB."""
        return self._state.ram_ranges()

    def read_phys(self, addr: int, size: int) -> bytes:
        """Read guest-physical RAM: from the mapped RAM file when the range is
        plain RAM (always above 4 GiB), else through GDB in QEMU's
        physical-memory mode.  A range not wholly in one RAM range (such as
        one crossing the hole below 4 GiB) raises MemoryRangeError."""
        return self._state.read_phys(addr, size)

    def write_phys(self, addr: int, data: bytes) -> None:
        """Write guest-physical RAM through GDB (so QEMU drops any code it
        translated from those bytes; it does not flush the guest's TLB).
        Above 4 GiB, where GDB's 32-bit i386 addresses do not reach, the bytes
        go to the shared RAM file instead: right for data, but code QEMU
        already translated from them is not dropped.  A range not wholly in
        one RAM range raises MemoryRangeError (QEMU would drop it)."""
        self._state.write_phys(addr, data)

    def read_phys_u32(self, addr: int) -> int:
        """A 32-bit word of guest-physical RAM; raises as :meth:`read_phys`."""
        return self._state.read_phys_u32(addr)

    def write_phys_u32(self, addr: int, value: int) -> None:
        """Write a 32-bit word of guest-physical RAM; raises as :meth:`write_phys`."""
        self._state.write_phys_u32(addr, value)

    # -- page tables (harness.decode's walkers on this machine's memory) ------------------

    def paging_mode(self) -> PagingMode | None:
        """How the CPU translates addresses now: legacy or PAE, CR4.PSE and
        EFER.NXE, read through GDB; None when CR0.PG is off."""
        return self._state.paging_mode()

    def address_space(self, cr3: int | None = None) -> AnyAddressSpace:
        """Walk the address space of ``cr3`` (default: the current one) in
        the CPU's current paging mode (legacy or PAE, from CR4 and EFER).
        Raises MemoryRangeError when a table lies outside guest RAM."""
        return self._state.address_space(cr3)

    def translate(self, va: int, cr3: int | None = None) -> AnyTranslation:
        """Each level of the walk for ``va``; raises as :meth:`address_space`."""
        return self._state.translate(va, cr3)

    def pte_address(self, va: int, cr3: int | None = None) -> int:
        """Physical address of the entry that maps ``va`` (the PDE for a 4 MiB
        or 2 MiB page; 8-byte entries under PAE).  Raises KeyError when no
        page table covers it."""
        return self._state.pte_address(va, cr3)

    def write_pte(self, va: int, value: int, cr3: int | None = None) -> None:
        """Overwrite the entry mapping ``va`` (all 64 bits of it under PAE,
        so ``value`` may carry NX).  Like any write to a page table,
        this does not flush the TLB: the kernel's old translation may stay.
        Raises KeyError when no page table covers it."""
        self._state.write_pte(va, value, cr3)

    def page_map_text(self) -> str:
        """The current address space as a region map (for artifacts)."""
        return self._state.page_map_text()
