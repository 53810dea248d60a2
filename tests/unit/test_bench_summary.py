"""Reading pytest's closing line for the bench's suite_seconds (no QEMU)."""

import pytest

from harness import HarnessError
from harness.cli.bench import passed_count


@pytest.mark.parametrize(("line", "passed"), [
    ("============================= 582 passed in 52.84s =============================", 582),
    ("582 passed in 52.84s", 582),
    ("575 passed, 7 skipped in 60.10s (0:01:00)", 575),
])
def test_the_passed_count_is_read_from_the_closing_line(line, passed):
    assert passed_count(f"....\n[100%]\n{line}\n") == passed


def test_a_failed_suite_is_an_error_not_a_number():
    with pytest.raises(HarnessError, match="the suite failed: 1 failed, 581 passed"):
        passed_count("1 failed, 581 passed in 70.2s\n")


def test_output_without_a_closing_line_is_an_error():
    with pytest.raises(HarnessError, match="no closing line"):
        passed_count("ERROR collecting tests/x.py\n")
