"""Booted machines reused across tests through QEMU snapshots.

A pool boots each configuration once, runs it to its target's ready point
(``TargetProfile.ready`` or ``ready_serial``), saves a snapshot there, and
from then on hands out the same machine restored to that snapshot (a loadvm,
~6 ms, instead of a boot).  A machine that a test left broken (QEMU gone, GDB
gone or out of step, a target that will not stop, registers a timed-out call
could not put back: ``Machine.alive`` is False) is closed and the next request
for its configuration boots a fresh one.

savevm and loadvm copy all of guest RAM in one QMP command, so their wait
grows with the machine's RAM (``timeouts.snapshot``: a 6 GiB machine's savevm
took 6 to 19 s here, by load, against 10 s for any other QMP command).

One pool per process: pytest-xdist workers each have their own.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from harness import timeouts
from harness.errors import ConfigError, HarnessError
from harness.machine.machine import Machine
from harness.machine.qemu import QemuConfig

READY_SNAPSHOT = "ready"


def run_to_ready(machine: Machine, timeout: float) -> None:
    """Run a machine stopped at reset to its target's ready point and stop it
    there.  Raises ConfigError for a target without one (neither ``ready`` nor
    ``ready_serial``), GuestTimeout when it is not ready in time."""
    target = machine.cfg.target
    if target.ready is not None:
        machine.run_to(target.ready, timeout=timeout)
        return
    if target.ready_serial is None:
        raise ConfigError(f"target {target.name!r} sets neither ready nor ready_serial, so "
                          "nothing tells when it is ready for tests: set one in its "
                          "TargetProfile, or boot it with Machine.boot and run it yourself")
    machine.cont(wait=False)
    machine.expect(target.ready_serial, timeout=timeout)
    machine.interrupt()


class MachinePool:
    """Machines keyed by configuration, least recently used closed first."""

    def __init__(self, *, gdb: str = "gdb", max_machines: int = 4,
                 on_close: Callable[[Machine], object] | None = None) -> None:
        self.gdb = gdb
        self.max_machines = max_machines
        self._machines: collections.OrderedDict[QemuConfig, Machine] = collections.OrderedDict()
        self._on_close = on_close  # called with each machine before it is closed
        self.boots = 0
        self.restores = 0

    def boot_to_ready(self, cfg: QemuConfig) -> Machine:
        """A freshly booted machine stopped at its target's ready point (not
        pooled).  Raises ConfigError, before the kernel runs, for a target
        without a ready point or a configuration the target's
        ``check_config`` refuses; GuestTimeout when it is not ready in time."""
        target = cfg.target
        if target.ready is None and target.ready_serial is None:
            raise ConfigError(f"a pooled machine needs TargetProfile.ready or ready_serial, "
                              f"which target {target.name!r} does not set")
        machine = Machine(cfg, gdb=self.gdb)
        machine.start()
        try:
            if target.check_config is not None:
                target.check_config(cfg, machine)
            run_to_ready(machine, timeouts.boot(target.boot_timeout or timeouts.BOOT, cfg.smp))
        except BaseException as exc:
            self.close_machine(machine, kill=isinstance(exc, KeyboardInterrupt))
            raise
        self.boots += 1
        return machine

    def acquire(self, cfg: QemuConfig) -> Machine:
        """The pooled machine for ``cfg``, restored to kernel_ready.  Raises
        what :meth:`boot_to_ready` raises when it has to boot one."""
        machine = self._machines.pop(cfg, None)
        if machine is not None:
            try:
                machine.restore_snapshot(READY_SNAPSHOT)
                self.restores += 1
                self._machines[cfg] = machine
                return machine
            except HarnessError:
                self.close_machine(machine)  # broken beyond a restore: replace it
        machine = self.boot_to_ready(cfg)
        try:
            machine.save_snapshot(READY_SNAPSHOT)
        except BaseException as exc:
            self.close_machine(machine, kill=isinstance(exc, KeyboardInterrupt))
            raise
        self._machines[cfg] = machine
        while len(self._machines) > self.max_machines:
            _, oldest = self._machines.popitem(last=False)
            self.close_machine(oldest)
        return machine

    def release(self, machine: Machine) -> None:
        """Hand a machine back after a test.  A machine that is dead, or running
        and will not stop, is closed (and replaced on the next acquire)."""
        healthy = machine.alive
        if healthy and machine.gdb is not None and machine.gdb.running:
            try:
                machine.interrupt()
            except HarnessError:
                healthy = False
        if not healthy:
            self.discard(machine)

    def discard(self, machine: Machine, *, kill: bool = False) -> None:
        for cfg, pooled in list(self._machines.items()):
            if pooled is machine:
                del self._machines[cfg]
        self.close_machine(machine, kill=kill)

    def close_machine(self, machine: Machine, *, kill: bool = False) -> None:
        """Close one machine; ``kill`` as in Machine.close (an interrupted run)."""
        if self._on_close is not None:
            self._on_close(machine)
        machine.close(kill=kill)

    def close(self, *, kill: bool = False) -> None:
        while self._machines:
            _, machine = self._machines.popitem()
            self.close_machine(machine, kill=kill)

