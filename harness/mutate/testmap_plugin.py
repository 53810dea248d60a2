"""pytest plugin for the test-map run (``-p harness.mutate.testmap_plugin``):
the kernel functions each test's machines ran, from the coverage image's
bitmap in guest RAM; with every test's outcome and duration, one JSON line
per test appended to its process's file in ``--testmap-out`` (each xdist
worker its own) as soon as the test ends: a worker that dies, or a run cut
short, loses the test it was in, not every test it had run.

Machines are restored from a snapshot taken at kernel_ready, which wipes the
bitmap back to the boot's functions; a model test restores its machine for
every example, and a test may boot or close machines of its own.  So the
bitmap of every machine a test used is read before each restore and each
close, and at the end of the test: the union is what the test reached.  A
test that used no machine of the harness's (the GDB batch tests) is listed
with no functions: it runs among "the rest" of every mutant's tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.machine.machine import Machine
from harness.mutate.coverage import function_index, reached
from harness.mutate.run_plugin import xdist_worker

_tests: dict[str, dict] = {}
_used: list[Machine] = []  # machines the running test started or restored
_reached: set[str] = set()
_out: Path | None = None  # this process's file of finished tests


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--testmap-out", help="directory for this run's per-worker test map files")


def _read(machine: Machine) -> None:
    """Adds what ``machine`` ran to the running test's functions."""
    try:
        index = function_index(Path(machine.cfg.kernel))
    except (ConfigError, OSError):
        return  # not a coverage image (Linux, a test's own kernel)
    try:
        bits = machine.read_phys(index.bitmap - machine.cfg.target.kernel_base,
                                 index.bitmap_size)
    except Exception:
        return
    _reached.update(reached(bits, index))


def _patch() -> None:
    start, restore, close = Machine.start, Machine.restore_snapshot, Machine.close

    def start_used(self: Machine) -> None:
        start(self)
        _used.append(self)

    def restore_used(self: Machine, name: str) -> None:
        if any(m is self for m in _used):
            _read(self)
        restore(self, name)
        if not any(m is self for m in _used):
            _used.append(self)

    def close_used(self: Machine, **kwargs: Any) -> None:
        if any(m is self for m in _used):
            _read(self)
            _used[:] = [m for m in _used if m is not self]
        close(self, **kwargs)

    Machine.start = start_used  # type: ignore[method-assign]
    Machine.restore_snapshot = restore_used  # type: ignore[method-assign]
    Machine.close = close_used  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    global _out
    out = config.getoption("--testmap-out")
    if not out:
        return
    _patch()
    if getattr(config.option, "numprocesses", None) and xdist_worker(config) is None:
        # The xdist controller runs no test: the workers write.  (Not by its
        # "dsession" plugin: xdist registers that in its own pytest_configure,
        # which may come after this one.  A controller that wrote saw every
        # test with no machine, and its file, merged last, emptied the map.)
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    _out = Path(out) / f"{xdist_worker(config) or 'main'}.jsonl"


def pytest_runtest_logstart(nodeid: str) -> None:
    _used.clear()
    _reached.clear()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _tests.setdefault(report.nodeid, {"seconds": 0.0, "outcome": "passed"})
    entry["seconds"] = round(entry["seconds"] + report.duration, 3)
    if (report.outcome != "passed" or report.when == "call") and entry["outcome"] == "passed":
        entry["outcome"] = report.outcome


def pytest_runtest_logfinish(nodeid: str) -> None:
    for machine in _used:
        _read(machine)
    _used.clear()
    entry = _tests.pop(nodeid, {"seconds": 0.0, "outcome": "passed"})
    if _out is not None:
        with open(_out, "a") as out:
            out.write(json.dumps({"test": nodeid, **entry, "functions": sorted(_reached)}) + "\n")
