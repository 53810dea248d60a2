"""pytest plugin for a mutation run: each mutant is one test item
(``harness/mutate/mutant_items.py``), so pytest-xdist spreads the mutants
over its workers, on this host (``-n``) or others (``--tx``), and the
controller gathers what each worker found.

Workers: a session-wide :class:`~harness.mutate.runner.MutantRunner` in a
work directory of the worker's own judges the item's mutant and attaches the
result to the report (``user_properties``, which xdist sends back).  A
survivor fails its item, with its diff as the failure.

Controller: collects every report's result and writes them all to
``--mutate-results`` at the end of the session, also after an interrupt.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.mutate.results import MutantResult, RunResults

_found: list[MutantResult] = []
_started = time.monotonic()
_worker: str | None = None  # set at configure (see xdist_worker)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mutate", "mutation run")
    group.addoption("--mutants-file", help="JSON list of the mutant ids to judge, in order")
    group.addoption("--mutate-work", help="work directory (each worker a subdirectory)")
    group.addoption("--mutate-results", help="where the controller writes the results")
    group.addoption("--budget-factor", type=float, default=3.0,
                    help="a mutant's budget: this times its tests' measured seconds, plus "
                         "startup (default %(default)s)")
    group.addoption("--rest", choices=("unmeasured", "all"), default="unmeasured",
                    help="after the tests that reach a mutant's function: the tests whose "
                         "reach was not measured, or all (see TestMap.order)")


def xdist_worker(config: pytest.Config) -> str | None:
    """This process's xdist worker id, None in the controller or without
    xdist.  Not $PYTEST_XDIST_WORKER: a run started from inside a worker (a
    test of the tool) inherits it without being a worker itself."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput is not None else None


def pytest_configure(config: pytest.Config) -> None:
    global _worker
    _worker = xdist_worker(config)


def worker_dir(config: pytest.Config) -> Path:
    return Path(config.getoption("--mutate-work")) / "workers" / (xdist_worker(config) or "main")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _worker is not None or report.when != "call":
        return  # workers report to the controller, which gathers
    for name, value in report.user_properties:
        if name == "mutant":
            _found.append(MutantResult(**json.loads(str(value))))


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = session.config.getoption("--mutate-results")
    if not out or _worker is not None:
        return
    RunResults(mutants=sorted(_found, key=lambda m: (m.file, m.line, m.col, m.id)),
               seconds=time.monotonic() - _started).save(Path(out))
