"""pytest integration: options, the firmware build, machine fixtures, markers
and failure artifacts.  Loaded by the repository's conftest.py.

Fixtures
    firmware      the build artifacts, built once per session (one build under xdist)
    machine       a machine stopped at kernel_ready, restored from this worker's
                  snapshot for the test's configuration (booted fresh with
                  ``@pytest.mark.cold_boot``)
    boot          a factory: ``boot(memory="8M", ...)`` starts a machine paused at
                  reset; every machine it made is closed after the test
    extra_cmdline words put before the marker's kernel command line ("" here; a
                  conftest parametrizes it to run its tests in several kernel
                  configurations, e.g. tests/paging_matrix.py)
    machine_pool  the worker's pool of snapshot-restored machines
    kernel        harness.targets.mmverify.kernel.Kernel on the test's machine (structs, bitmaps)
    userland      harness.targets.mmverify.processes.Userland: spawn and run user programs

Markers
    @pytest.mark.machine(memory=..., cpu=..., modules=[...], cmdline=..., icount=...,
                         disks=[DiskSpec(...)])
    @pytest.mark.cold_boot
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness import timeouts
from harness.errors import TargetStateError
from harness.machine import artifacts
from harness.machine.machine import Machine
from harness.machine.pool import MachinePool
from harness.machine.qemu import DEFAULT_CPU, DEFAULT_MEMORY, QemuConfig
from harness.machine.target import TargetProfile
from harness.targets.mmverify.build import DEFAULT_BUILD_DIR, REPO, Artifacts, build
from harness.targets.mmverify.profile import profile as mmverify_profile
from harness.transport import procutil

if TYPE_CHECKING:
    from harness.targets.mmverify.kernel import Kernel
    from harness.targets.mmverify.processes import Userland

MACHINE_OPTIONS = ("target", "kernel", "memory", "cpu", "modules", "cmdline", "icount", "bios",
                   "record_channel", "disks", "balloon", "numa", "numa_distances", "smp", "mttcg")
call_report_key = pytest.StashKey[pytest.TestReport]()
machine_key = pytest.StashKey[tuple[Machine, int, int]]()  # machine, console and record marks

# Set once the run is interrupted (Ctrl-C, SIGINT).  Fixture teardown then
# kills its machines instead of stopping the guest and asking GDB and QEMU to
# quit: after an interrupt nothing waits on a guest, a GDB or a monitor that
# may be slow or stuck, so the run ends at once.
interrupted = False


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mmverify", "mmverify machines")
    group.addoption("--qemu", default=os.environ.get("MMV_QEMU", "qemu-system-i386"),
                    help="qemu-system-i386 binary (name on PATH or path)")
    group.addoption("--gdb", default=os.environ.get("MMV_GDB", "gdb"),
                    help="gdb binary (name on PATH or path)")
    group.addoption("--cpu", default=DEFAULT_CPU, help="QEMU CPU model (default: %(default)s)")
    group.addoption("--memory", default=DEFAULT_MEMORY,
                    help="guest RAM for tests that do not ask for a size (default: %(default)s)")
    group.addoption("--icount", action="store_true",
                    help="run every machine with -icount shift=0 (deterministic)")
    group.addoption("--keep-runs", action="store_true",
                    help="keep every machine's run directory logs under --artifacts")
    group.addoption("--artifacts", default=str(REPO / "artifacts"),
                    help="where failed tests' artifacts go (default: %(default)s)")
    group.addoption("--build-dir", default=str(DEFAULT_BUILD_DIR), help="firmware build directory")
    group.addoption("--target", default="mmverify",
                    help="the kernel under test when a test does not name one: mmverify (this "
                         "repository's firmware) or linux (stock Debian Linux i386)")
    group.addoption("--boot", choices=("kernel", "iso"), default="kernel",
                    help="boot with QEMU -kernel, or from a GRUB image (the hardware path)")
    group.addoption("--shrink-budget", type=float,
                    default=float(os.environ.get("MMV_SHRINK_BUDGET", "30") or 30),
                    help="seconds hypothesis may spend shrinking one failure (default "
                         "%(default)s): a model test shrinking through GDB must report, not hang")
    group.addoption("--timeout-scale", type=float,
                    default=float(os.environ.get("MMV_TIMEOUT_SCALE", "1") or 1),
                    help="multiply every harness timeout (slow machines)")


def pytest_configure(config: pytest.Config) -> None:
    timeouts.set_scale(config.getoption("--timeout-scale"))
    # Hypothesis stops shrinking after MAX_SHRINKING_SECONDS (300; documented
    # as the knob to patch).  Every step of a model test is a GDB round trip,
    # so five minutes of shrinking reads as a hung suite; with -x -n 2 the
    # other worker's shrink even outlives the failure that stopped the run.
    from hypothesis.internal.conjecture import engine

    engine.MAX_SHRINKING_SECONDS = config.getoption("--shrink-budget")
    if hasattr(config, "workerinput"):
        # An xdist worker must not outlive the controller: if it is killed
        # (even by SIGKILL) the worker gets SIGTERM, and its QEMU and GDB
        # children die with it (their own parent-death signal).
        procutil.die_with_parent(signal.SIGTERM)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"machine", "boot", "machine_pool"} & set(getattr(item, "fixturenames", ())):
            item.add_marker("qemu")


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo) -> None:
    global interrupted
    interrupted = True


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[call_report_key] = report
    if report.failed and report.when in ("setup", "call") and machine_key in item.stash:
        machine, serial_since, records_since = item.stash[machine_key]
        dest = Path(item.config.getoption("--artifacts")) / artifacts.safe_name(item.nodeid)
        summary = artifacts.collect(machine, dest, serial_since=serial_since,
                                    records_since=records_since)
        report.sections.append(("mmverify", summary))
    return report


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def firmware(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """Build the firmware once per session; xdist workers share one build."""
    build_dir = Path(request.config.getoption("--build-dir"))
    if not hasattr(request.config, "workerinput"):
        return build(build_dir)
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent
    done = shared / "mmv-build.json"
    with FileLock(str(shared / "mmv-build.lock")):
        if done.exists():
            return Artifacts(Path(json.loads(done.read_text())["build_dir"]))
        result = build(build_dir)
        done.write_text(json.dumps({"build_dir": str(result.build_dir)}))
        return result


@pytest.fixture(scope="session")
def machine_pool(request: pytest.FixtureRequest) -> Iterator[MachinePool]:
    keep = request.config.getoption("--keep-runs")
    root = Path(request.config.getoption("--artifacts"))

    def keep_logs(machine: Machine) -> None:
        if keep and machine.run_dir is not None:
            from harness.transport import rundir
            rundir.keep(machine.run_dir, root / "runs" / machine.run_dir.name)

    pool = MachinePool(gdb=request.config.getoption("--gdb"), on_close=keep_logs)
    yield pool
    pool.close(kill=interrupted)


def numa_fields(fields: dict[str, Any], *, memory_given: bool) -> None:
    """The marker's NUMA options as QemuConfig takes them, in place: lists
    become tuples (the config is hashed: the pool's key), and numa=[48, 16]
    (MiB per node) makes the machine's memory their sum unless the test gave
    a memory of its own, which QemuConfig then checks against the sum."""
    if "numa" in fields:
        fields["numa"] = tuple(fields["numa"])
        if not memory_given:
            fields["memory"] = sum(fields["numa"])
    if "numa_distances" in fields:
        fields["numa_distances"] = tuple(tuple(row) for row in fields["numa_distances"])


def machine_config(request: pytest.FixtureRequest, firmware: Artifacts,
                   **overrides: Any) -> QemuConfig:
    """The QemuConfig for this test: command-line defaults, then the machine
    marker, then ``overrides``.  ``target`` is a target's name ("mmverify",
    "linux") or a TargetProfile of the test's own (then ``kernel`` is needed).
    Raises pytest.UsageError for an unknown option or target."""
    opts = request.config.getoption
    fields: dict = {"memory": opts("--memory"), "cpu": opts("--cpu"),
                    "icount": opts("--icount"), "qemu": opts("--qemu")}
    marker = request.node.get_closest_marker("machine")
    if marker is not None:
        unknown = set(marker.kwargs) - set(MACHINE_OPTIONS)
        if unknown or marker.args:
            raise pytest.UsageError(f"{request.node.nodeid}: machine marker takes keyword "
                                    f"arguments {MACHINE_OPTIONS}, got {marker.args} "
                                    f"{sorted(unknown)}")
        fields.update(marker.kwargs)
    fields.update(overrides)
    if "disks" in fields:  # a list in the marker; the config is hashed (the pool's key)
        fields["disks"] = tuple(fields["disks"])
    numa_fields(fields, memory_given="memory" in overrides or
                (marker is not None and "memory" in marker.kwargs))
    extra = request.getfixturevalue("extra_cmdline") if "extra_cmdline" in request.fixturenames \
        else ""
    if extra:  # the marker's words come later and win; no words: the target's own default
        fields["cmdline"] = f"{extra} {fields.get('cmdline', '')}".strip()
    target = fields.pop("target", opts("--target"))
    if isinstance(target, TargetProfile):
        if "kernel" not in fields:
            raise pytest.UsageError(f"{request.node.nodeid}: target {target.name!r} is a "
                                    "profile of the test's own: give the kernel too")
        return QemuConfig(target=target, **fields)
    if target == "linux":
        from harness.targets.linux.profile import qemu_config

        return qemu_config(firmware.build_dir, **fields)
    if target != "mmverify":
        raise pytest.UsageError(f"{request.node.nodeid}: unknown target {target!r} "
                                "(mmverify, linux, or a TargetProfile)")
    modules = fields.get("modules", ())
    fields["modules"] = tuple(m for spec in modules for m in resolve_module(firmware, spec))
    if opts("--boot") == "iso":
        from filelock import FileLock

        from harness.targets.mmverify.iso import build_iso

        iso_dir = firmware.build_dir / "iso"
        iso_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(iso_dir / ".lock")):  # one grub-mkrescue per image, workers share
            fields["iso"] = build_iso(firmware.kernel, fields["modules"],
                                      fields.get("cmdline", ""), iso_dir)
    fields.setdefault("kernel", firmware.kernel)
    return QemuConfig(target=mmverify_profile(firmware), **fields)


def resolve_module(firmware: Artifacts, module: str) -> list[str]:
    """"user/nullread args" -> ["<build>/user/nullread.elf args"]; "user/*" -> every
    user program; other paths pass through."""
    if module == "user/*":
        return [str(p) for p in sorted(firmware.user_dir.glob("*.elf"))]
    name, _, args = module.partition(" ")
    if name.startswith("user/") and not name.endswith(".elf"):
        name = str(firmware.user_program(name.removeprefix("user/")))
    return [f"{name} {args}".strip()]


@pytest.fixture
def extra_cmdline() -> str:
    """Kernel command-line words for every machine of the test, before the
    marker's (see machine_config); none unless a conftest parametrizes it."""
    return ""


@pytest.fixture
def machine(request: pytest.FixtureRequest, firmware: Artifacts, machine_pool: MachinePool,
            extra_cmdline: str) -> Iterator[Machine]:
    """A machine at kernel_ready, pristine for this test."""
    cfg = machine_config(request, firmware)
    # A machine savevm cannot snapshot (a disk with error rules) boots cold.
    cold = request.node.get_closest_marker("cold_boot") is not None or not cfg.can_snapshot
    m = machine_pool.boot_to_ready(cfg) if cold else machine_pool.acquire(cfg)
    if m.console is None:
        raise TargetStateError(f"{request.node.nodeid}: the pool gave a machine that is not "
                               "started")
    records = m.mark() if m.record_channel is not None else 0  # a target without COM2
    request.node.stash[machine_key] = (m, m.console.mark(), records)
    try:
        yield m
    finally:
        if machine_key in request.node.stash:
            del request.node.stash[machine_key]
        if interrupted:
            machine_pool.discard(m, kill=True)
        elif cold:
            machine_pool.close_machine(m)
        else:
            machine_pool.release(m)


@pytest.fixture
def kernel(machine: Machine) -> Kernel:
    """Typed access to the firmware's state on the test's machine."""
    from harness.targets.mmverify.kernel import Kernel

    return Kernel(machine)


@pytest.fixture
def userland(machine: Machine, firmware: Artifacts) -> Userland:
    """Processes on the test's machine (give it modules=["user/*"])."""
    from harness.targets.mmverify.processes import Userland

    return Userland(machine, firmware.user_dir)


@pytest.fixture
def boot(request: pytest.FixtureRequest, firmware: Artifacts, machine_pool: MachinePool,
         extra_cmdline: str) -> Iterator[Callable[..., Machine]]:
    """Factory for machines this test boots itself (paused at reset)."""
    made: list[Machine] = []

    def start(**options: Any) -> Machine:
        m = Machine(machine_config(request, firmware, **options),
                    gdb=request.config.getoption("--gdb"))
        m.start()
        made.append(m)
        request.node.stash[machine_key] = (m, 0, 0)
        return m

    try:
        yield start
    finally:
        if machine_key in request.node.stash:
            del request.node.stash[machine_key]
        for m in made:
            machine_pool.close_machine(m, kill=interrupted)
