"""A mutant's test run (harness.mutate.runner.run_tests): a child pytest in
the order given, stopped at the first failure, named by the probe plugin, and
killed with everything it started when it overruns its budget."""

import os
import time

from harness.mutate.runner import run_tests

TESTS = '''
import os, time

def test_passes():
    pass

def test_fails():
    assert 1 + 1 == 3, "arithmetic is broken"

def test_sleeps():
    child = os.fork()
    if child == 0:  # a grandchild, as QEMU and GDB are
        time.sleep(120)
        os._exit(0)
    open(os.environ["CHILD_PID_FILE"], "w").write(str(child))
    time.sleep(120)
'''


def setup(tmp_path):
    (tmp_path / "test_cases.py").write_text(TESTS)
    return f"{tmp_path / 'test_cases.py'}::"


def test_a_passing_run_counts_its_tests(tmp_path):
    case = setup(tmp_path)
    run = run_tests(tmp_path, [case + "test_passes"], 60, tmp_path / "work")
    assert (run.outcome, run.tests_run, run.failed) == ("passed", 1, "")


def test_the_first_failure_stops_the_run_and_is_named_with_its_message(tmp_path):
    case = setup(tmp_path)
    run = run_tests(tmp_path, [case + "test_passes", case + "test_fails", case + "test_sleeps"],
                    60, tmp_path / "work")
    assert (run.outcome, run.tests_run) == ("failed", 2)
    assert run.failed.endswith("test_cases.py::test_fails")  # relative to the child's rootdir
    assert "arithmetic is broken" in run.message
    assert run.seconds < 30  # test_sleeps never ran


def test_a_run_over_budget_is_a_timeout_naming_the_running_test_and_leaves_nothing(
        tmp_path, monkeypatch):
    case = setup(tmp_path)
    monkeypatch.setenv("CHILD_PID_FILE", str(tmp_path / "child.pid"))
    started = time.monotonic()
    run = run_tests(tmp_path, [case + "test_passes", case + "test_sleeps"], 8, tmp_path / "work")
    assert time.monotonic() - started < 20
    assert (run.outcome, run.tests_run) == ("timeout", 1)
    assert run.running.endswith("test_cases.py::test_sleeps")
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{child}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{child}"), "the test's own child outlived the timeout"
