"""pytest plugin for a mutant's test run (``-p harness.mutate.probe``): each
test's start and result as JSON lines in ``$MMV_MUTATE_LOG``, so the runner
knows which test killed the mutant and why, and which test was running when
the run overran its budget; and the ``mutate`` hypothesis profile.

Under ``mutate`` hypothesis does not shrink: a mutant needs one failing
example, not the smallest, and shrinking a state machine whose every step
goes through GDB can take minutes (the hang issue 15 describes).  Nor does it
keep examples between runs, so each mutant is judged by the same examples.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, Phase, settings

settings.register_profile("mutate", database=None, deadline=None,
                          phases=(Phase.explicit, Phase.reuse, Phase.generate),
                          suppress_health_check=list(HealthCheck))

_log = None


def _write(event: dict) -> None:
    global _log
    path = os.environ.get("MMV_MUTATE_LOG")
    if not path:
        return
    if _log is None:
        _log = open(path, "a", buffering=1)
    _log.write(json.dumps(event) + "\n")


def pytest_runtest_logstart(nodeid: str) -> None:
    _write({"start": nodeid})


def _reason(report: pytest.TestReport) -> str:
    """The failure in one line: pytest's crash message (the exception and its
    text), else the report's last line."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else report.longreprtext.strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " / ".join(lines[:3])[:300]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.outcome == "failed" or report.when == "call":
        _write({"test": report.nodeid, "when": report.when, "outcome": report.outcome,
                "seconds": round(report.duration, 3),
                "message": _reason(report) if report.failed else ""})
