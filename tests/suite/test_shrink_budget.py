"""A failing property test reports within the shrink budget instead of
shrinking for minutes: every example of a model test is a GDB round trip, so
an unbounded shrink reads as a hung suite (issue 15).  Run in a child pytest
with a half-second budget on a test whose every example costs 0.05 s, counting
the examples it ran (a file line each): a count, unlike the wall time, does
not grow when the host is loaded."""

import subprocess
import sys
import time

SLOW_FAILING_PROPERTY = '''
import time
from hypothesis import given, settings, strategies as st

@settings(database=None, deadline=None, derandomize=True)
@given(st.lists(st.integers(), min_size=40))
def test_every_list_fails_slowly(xs):
    with open(LOG, "a") as log:
        log.write("x\\n")
    time.sleep(0.05)
    assert sum(xs) == 12345678
'''


def run(tmp_path, *options):
    log = tmp_path / "examples.log"
    (tmp_path / "test_slow.py").write_text(f"LOG = {str(log)!r}\n" + SLOW_FAILING_PROPERTY)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist",
                           "-p", "no:cacheprovider", *options, str(tmp_path / "test_slow.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    examples = len(log.read_text().splitlines()) if log.exists() else 0
    return proc, time.monotonic() - started, examples


def test_shrinking_stops_at_the_budget_and_the_failure_is_reported(tmp_path):
    proc, seconds, examples = run(tmp_path, "--shrink-budget", "0.5")
    assert proc.returncode == 1, proc.stdout
    assert "test_every_list_fails_slowly(\n" in proc.stdout and "xs=[" in proc.stdout  # the example
    # The generation and about 10 shrinks in the budget: 16 on an idle host,
    # 12 under three CPU hogs (71 and 57 with the 4 s budget below).
    assert examples <= 30, f"{examples} examples ({seconds:.1f} s) with a 0.5 s shrink budget"


def test_the_same_failure_shrinks_longer_with_a_larger_budget(tmp_path):
    """The budget is what ends the shrink above: with 4 s it runs past 4 s,
    and more examples than the 0.5 s budget allows."""
    proc, seconds, examples = run(tmp_path, "--shrink-budget", "4")
    assert proc.returncode == 1, proc.stdout
    assert seconds > 4 and examples > 30, (seconds, examples)
