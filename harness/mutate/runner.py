"""One mutant judged by the suite: build it, run the tests that reach its
function first and then the rest, stop at the first failure, within a time
budget.

Each runner owns a work directory (one per xdist worker): the firmware copy
the mutants are swapped into, its build, and the logs of the last run.  The
tests run in a child pytest (``harness.mutate.probe`` reports each test to a
log) against that build, without xdist: the mutants are what is spread over
the workers.  A run that overruns its budget is killed with its process
group (QEMU and GDB included) and the mutant counted as a timeout.

A test that fails on a mutant kills it only if it passes on the unmutated
firmware: the first time a test kills something, the runner runs it alone on
a pristine build.  A test that fails there too is set aside for the rest of
this runner's mutants, and the mutant is judged again without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.mutate.generate import Mutant
from harness.mutate.results import MutantResult
from harness.mutate.sandbox import build_mutant
from harness.mutate.testmap import TestMap
from harness.targets.mmverify.build import FIRMWARE, REPO, build
from harness.transport import procutil

STARTUP_SECONDS = 20.0  # pytest, the build check and the first boot, under load


@dataclass(frozen=True)
class TestRun:
    """What a child pytest did."""

    __test__ = False

    outcome: str  # "passed", "failed" or "timeout"
    tests_run: int
    failed: str = ""  # the first failing test's node id
    message: str = ""  # its assertion or error line
    running: str = ""  # the test that was running when the budget ran out
    seconds: float = 0.0


def _child_env(log: Path) -> dict[str, str]:
    # PYTEST_ADDOPTS is the outer run's (CI's junit file, -n): not the child's
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    return env | {"MMV_MUTATE_LOG": str(log)}


def run_tests(build_dir: Path, tests: list[str], budget: float, work: Path) -> TestRun:
    """Runs ``tests`` in this order against the firmware in ``build_dir``,
    stopping at the first failure; kills the run after ``budget`` seconds."""
    work.mkdir(parents=True, exist_ok=True)
    log = work / "tests.jsonl"
    log.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:xdist",
            "-p", "harness.mutate.probe", "--hypothesis-profile=mutate",
            "--build-dir", str(build_dir), "--artifacts", str(work / "artifacts"), *tests]
    started = time.monotonic()
    with open(work / "pytest.log", "w") as out:
        proc = procutil.spawn(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                              env=_child_env(log))
        try:
            proc.wait(budget)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        procutil.terminate(proc, grace=2.0)
    seconds = round(time.monotonic() - started, 2)
    events = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {e["test"] for e in events if "test" in e}
    failure = next((e for e in events if e.get("outcome") == "failed"), None)
    if failure is not None:
        return TestRun("failed", len(done), failure["test"], failure["message"], seconds=seconds)
    if timed_out:
        running = next((e["start"] for e in reversed(events) if "start" in e), "")
        return TestRun("timeout", len(done), running=running, seconds=seconds)
    if proc.returncode not in (0, 5):  # 5: no tests collected
        tail = (work / "pytest.log").read_text().strip().splitlines()[-1:]
        return TestRun("failed", len(done), "(pytest)",
                       f"pytest exit {proc.returncode}: {' '.join(tail)}", seconds=seconds)
    return TestRun("passed", len(done), seconds=seconds)


@dataclass
class MutantRunner:
    testmap: TestMap
    work: Path  # this runner's own directory
    pristine_dir: Path  # the unmutated build, shared by the runners of one host
    budget_factor: float = 3.0  # times the tests' measured duration, plus STARTUP_SECONDS
    rest: str = "unmeasured"  # which other tests run after the reaching ones (TestMap.order)
    set_aside: set[str] = field(default_factory=set)  # tests that fail unmutated
    trusted: set[str] = field(default_factory=set)  # killers checked on a pristine build
    # Kills so far, per function key and per file: a test that killed
    # mutants of a function is likely to kill its other mutants, and goes first.
    kills: dict[str, Counter[str]] = field(default_factory=dict)

    def learn(self, results: Iterable[MutantResult]) -> None:
        """Adds the kills of ``results`` (a previous run's, or this one's) to
        the history that orders the tests."""
        for r in results:
            if r.status == "killed" and r.killed_by:
                for where in (self.testmap.key_for(r.file, r.function), r.file):
                    self.kills.setdefault(where, Counter())[r.killed_by] += 1

    def _kills(self, key: str, file: str) -> Counter[str]:
        # a kill in this function counts for more than one elsewhere in the file
        ranked: Counter[str] = Counter()
        for test, n in self.kills.get(file, Counter()).items():
            ranked[test] += n
        for test, n in self.kills.get(key, Counter()).items():
            ranked[test] += 1000 * n
        return ranked

    def budget(self, tests: list[str]) -> float:
        measured = sum(self.testmap.tests[t].seconds for t in tests)
        return round(STARTUP_SECONDS + self.budget_factor * measured, 1)

    def _pristine(self) -> Path:
        from filelock import FileLock

        where = self.pristine_dir
        where.mkdir(parents=True, exist_ok=True)
        with FileLock(str(where) + ".lock"):  # runners on one host share it
            return build(where, source_dir=FIRMWARE).build_dir

    def _trust(self, test: str) -> bool:
        if test in self.trusted:
            return True
        check = run_tests(self._pristine(), [test], self.budget([test]), self.work / "pristine-run")
        if check.outcome == "passed":
            self.trusted.add(test)
            return True
        self.set_aside.add(test)
        return False

    def run(self, mutant: Mutant) -> MutantResult:
        started = time.monotonic()
        key = self.testmap.key_for(mutant.file, mutant.function)
        result = MutantResult.of(mutant, "survived", covered=bool(self.testmap.reaching(key)))
        built = build_mutant(mutant, self.work / "tree")
        if built.status == "stillborn":
            result.status, result.detail = "stillborn", built.error or built.message[:300]
        else:
            self._judge(result, key, built.artifacts.build_dir)
            self.learn([result])
        result.seconds = round(time.monotonic() - started, 2)
        return result

    def _judge(self, result: MutantResult, key: str, build_dir: Path) -> None:
        while True:
            tests = [t for t in self.testmap.order(key, self.rest, self._kills(key, result.file))
                     if t not in self.set_aside]
            budget = self.budget(tests)
            run = run_tests(build_dir, tests, budget, self.work / "run")
            result.tests_run += run.tests_run
            if run.outcome == "timeout":
                result.status, result.killed_by = "timeout", run.running
                result.detail = f"over the {budget:.0f} s budget in {run.running or 'startup'}"
                return
            if run.outcome == "passed":
                result.status = "survived"
                return
            if run.failed == "(pytest)":  # no test failed: the run itself broke
                raise HarnessError(f"{result.id}: {run.message}; see {self.work / 'run'}")
            if self._trust(run.failed):
                result.status, result.killed_by, result.detail = "killed", run.failed, run.message
                return
            # the test fails unmutated as well: judge the mutant again without it
