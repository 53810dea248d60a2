"""The map from kernel functions to the tests that reach them, measured.

``build_map`` builds the coverage image (``-DMMV_COVERAGE=ON``) and runs the
firmware's tests on it once under pytest-xdist with the test-map plugin:
every test's outcome, duration and the functions it ran.  The map is kept in
``build/mutate/testmap.json`` with a fingerprint of the sources and tests it
was measured on, and measured again when they change.

The same run is the baseline: a test that does not pass on the unmutated
kernel cannot judge a mutant, so only tests that passed are ever run
against one.  (The coverage image differs from the shipped one by the hooks
alone; the runner also checks each test that kills a mutant on the real,
unmutated build before it trusts the kill.)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.mutate.coverage import function_index, key_for
from harness.targets.mmverify.build import REPO, build

# What can kill a firmware mutant: every test that boots the firmware.  Not
# the unit tests (no QEMU), the Linux target's, the build's own tests (they
# rebuild the firmware tree, not the mutant's) or the suite's tests of the
# harness itself (interrupts, artifacts, isolation: the kernel is incidental).
IGNORED = ("tests/unit", "tests/linux", "tests/build", "tests/suite")
_FINGERPRINTED = ("firmware", "tests", "harness")
_SUFFIXES = {".c", ".h", ".S", ".ld", ".txt", ".py", ".toml"}


@dataclass(frozen=True)
class TestInfo:
    __test__ = False  # not a pytest test class

    seconds: float
    outcome: str  # passed, failed or skipped, on the unmutated coverage image
    functions: frozenset[str]


@dataclass
class TestMap:
    __test__ = False

    fingerprint: str
    tests: dict[str, TestInfo]
    keys: frozenset[str] = field(default_factory=frozenset)  # every kernel function
    seconds: float = 0.0  # the map run's wall time

    def key_for(self, file: str, function: str) -> str:
        """The key of a mutant's function (see harness.mutate.coverage)."""
        return key_for(self.keys, file, function)

    def usable(self) -> list[str]:
        return [t for t, info in self.tests.items() if info.outcome == "passed"]

    def reaching(self, key: str) -> list[str]:
        """The usable tests that ran ``key``, fastest first."""
        return sorted((t for t in self.usable() if key in self.tests[t].functions),
                      key=lambda t: (self.tests[t].seconds, t))

    def order(self, key: str, rest: str = "unmeasured",
              kills: Mapping[str, int] | None = None) -> list[str]:
        """The tests to run against a mutant of ``key``, those that reach it
        first, then the rest, each group by the ``kills`` it has made (most
        first: the runner's history of this function and file), then fastest
        first (a run stops at its first failure).  ``rest`` is "unmeasured",
        the tests whose machines could not be read (no harness machine, or it
        died), or "all".

        A test that ran and never entered the function cannot see a mutant
        of it: the guest executes the same instructions as unmutated up to
        the first entry, which never comes.  Only the code's size differs,
        which moves the functions after it; that changes no result a test
        should depend on.  So "unmeasured" loses no kill a test can make
        honestly, and saves running the whole suite for every survivor."""
        first = self.reaching(key)
        others = set(self.usable()) - set(first)
        if rest == "unmeasured":
            others = {t for t in others if not self.tests[t].functions}
        elif rest != "all":
            raise ValueError(f"rest is 'unmeasured' or 'all', not {rest!r}")
        made = kills or {}

        def rank(t: str) -> tuple[int, float, str]:
            return -made.get(t, 0), self.tests[t].seconds, t

        return sorted(first, key=rank) + sorted(others, key=rank)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"fingerprint": self.fingerprint, "seconds": self.seconds,
                "keys": sorted(self.keys),
                "tests": {t: {"seconds": i.seconds, "outcome": i.outcome,
                              "functions": sorted(i.functions)} for t, i in self.tests.items()}}
        path.write_text(json.dumps(data, indent=0) + "\n")

    @classmethod
    def load(cls, path: Path) -> TestMap:
        data = json.loads(Path(path).read_text())
        tests = {t: TestInfo(i["seconds"], i["outcome"], frozenset(i["functions"]))
                 for t, i in data["tests"].items()}
        return cls(data["fingerprint"], tests, frozenset(data["keys"]), data["seconds"])


def fingerprint(root: Path = REPO) -> str:
    """A hash of every source, test and harness file a map depends on (not
    the mutation tool's own)."""
    h = hashlib.sha256()
    for top in _FINGERPRINTED:
        for path in sorted((root / top).rglob("*")):
            if path.suffix not in _SUFFIXES or not path.is_file() or "__pycache__" in path.parts:
                continue
            if path.is_relative_to(root / "harness" / "mutate"):
                continue  # the runner's own code changes no test's reach or outcome
            h.update(path.relative_to(root).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()


def merge(lines: list[str]) -> dict[str, TestInfo]:
    """The workers' files of a map run as one map: a JSON line per finished
    test (harness.mutate.testmap_plugin).  A line cut short by a dying
    worker is no test."""
    out = {}
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        out[entry["test"]] = TestInfo(entry.get("seconds", 0.0), entry.get("outcome", "failed"),
                                      frozenset(entry.get("functions", ())))
    return out


def build_map(work: Path, *, workers: int = 2, extra_args: tuple[str, ...] = ()) -> TestMap:
    """Measures the map (see the module docstring); pytest's output goes to
    ``work/testmap.log``.  Raises HarnessError when no test passed."""
    started = time.monotonic()
    stamp = fingerprint()
    coverage = build(work / "coverage", options={"MMV_COVERAGE": "ON"})
    parts_dir = work / "testmap-parts"
    shutil.rmtree(parts_dir, ignore_errors=True)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "harness.mutate.testmap_plugin",
            "--testmap-out", str(parts_dir), "--build-dir", str(coverage.build_dir),
            "--artifacts", str(work / "artifacts" / "testmap"),
            *(["-n", str(workers)] if workers > 0 else ["-p", "no:xdist"]),
            *(f"--ignore={p}" for p in IGNORED), *extra_args, "tests"]
    log = work / "testmap.log"
    with open(log, "w") as out:
        subprocess.run(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=False)
    tests = merge([line for part in sorted(parts_dir.glob("*.jsonl"))
                   for line in part.read_text().splitlines()])
    result = TestMap(stamp, tests, function_index(coverage.kernel).keys,
                     round(time.monotonic() - started, 1))
    if not result.usable():
        raise HarnessError(f"the test-map run passed no test; see {log}")
    return result


def ensure_map(work: Path, *, workers: int = 2, rebuild: bool = False) -> TestMap:
    """The saved map if it was measured on the current sources, else a new one."""
    path = work / "testmap.json"
    if path.is_file() and not rebuild:
        saved = TestMap.load(path)
        if saved.fingerprint == fingerprint():
            return saved
    fresh = build_map(work, workers=workers)
    fresh.save(path)
    return fresh
