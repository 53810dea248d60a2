"""The mutation runner's pure parts: coverage bits to functions, the test map's
order, the lines and functions a diff touches, the reviewed equivalents, and
a mutant's signature."""

import subprocess
import sys

import pytest

from harness.errors import ConfigError
from harness.mutate import equivalents
from harness.mutate.changes import changed_functions, changed_lines
from harness.mutate.coverage import FunctionIndex, reached
from harness.mutate.generate import mutants_of_text
from harness.mutate.testmap import TestInfo, TestMap, merge

INDEX = FunctionIndex(text_start=0xC0100000, bitmap=0xC0200000, bitmap_size=4,
                      by_address={0xC0100000: "pmm.c:first", 0xC0100009: "alloc",
                                  0xC010001F: "pmm.c:last"},
                      keys=frozenset({"pmm.c:first", "alloc", "pmm.c:last"}))


def test_reached_names_the_functions_whose_entry_bit_is_set():
    assert reached(bytes([0b1, 0, 0, 0]), INDEX) == {"pmm.c:first"}
    assert reached(bytes([0, 0b10, 0, 0b10000000]), INDEX) == {"alloc", "pmm.c:last"}
    # a bit that is no function's entry (mid-function) names nothing
    assert reached(bytes([0b10, 0b1, 0, 0]), INDEX) == set()


def test_key_for_prefers_the_files_static_function():
    assert INDEX.key_for("firmware/mm/pmm.c", "first") == "pmm.c:first"
    assert INDEX.key_for("firmware/mm/pmm.c", "alloc") == "alloc"
    assert INDEX.key_for("firmware/mm/vmm.c", "first") == "first"


MAP = TestMap("x", {
    "t/a.py::slow_reaching": TestInfo(5.0, "passed", frozenset({"alloc"})),
    "t/a.py::fast_reaching": TestInfo(0.5, "passed", frozenset({"alloc", "pmm.c:first"})),
    "t/b.py::other": TestInfo(0.1, "passed", frozenset({"pmm.c:first"})),
    "t/b.py::broken": TestInfo(0.1, "failed", frozenset({"alloc"})),
    "t/c.py::skipped": TestInfo(0.0, "skipped", frozenset()),
    "t/d.py::unmeasured": TestInfo(0.3, "passed", frozenset()),
}, frozenset({"alloc", "pmm.c:first"}))


def test_the_order_is_the_reaching_tests_fastest_first_then_the_rest():
    assert MAP.order("alloc", rest="all") == [
        "t/a.py::fast_reaching", "t/a.py::slow_reaching", "t/b.py::other", "t/d.py::unmeasured"]
    assert MAP.order("pmm.c:first", rest="all") == [
        "t/b.py::other", "t/a.py::fast_reaching", "t/d.py::unmeasured", "t/a.py::slow_reaching"]


def test_tests_that_killed_before_go_first_in_their_group():
    kills = {"t/a.py::slow_reaching": 3, "t/d.py::unmeasured": 1, "t/b.py::other": 9}
    assert MAP.order("alloc", kills=kills) == [
        "t/a.py::slow_reaching", "t/a.py::fast_reaching", "t/d.py::unmeasured"]


def test_by_default_the_rest_is_only_the_tests_whose_reach_is_unknown():
    assert MAP.order("alloc") == ["t/a.py::fast_reaching", "t/a.py::slow_reaching",
                                  "t/d.py::unmeasured"]
    assert MAP.order("nothing") == ["t/d.py::unmeasured"]
    with pytest.raises(ValueError, match="not 'some'"):
        MAP.order("alloc", rest="some")


def test_tests_that_did_not_pass_unmutated_are_never_used():
    assert "t/b.py::broken" not in MAP.order("alloc")
    assert MAP.reaching("nothing") == []
    assert MAP.key_for("firmware/mm/pmm.c", "first") == "pmm.c:first"


def test_the_map_round_trips(tmp_path):
    MAP.save(tmp_path / "m.json")
    assert TestMap.load(tmp_path / "m.json") == MAP


def test_merge_takes_every_finished_test_and_no_torn_line():
    lines = ['{"test": "a", "seconds": 1.5, "outcome": "passed", "functions": ["f"]}',
             '{"test": "b", "seconds": 0.2, "outcome": "failed"}',
             '{"test": "c", "seconds": 0.3, "outc']  # the worker died writing it
    assert merge(lines) == {"a": TestInfo(1.5, "passed", frozenset({"f"})),
                            "b": TestInfo(0.2, "failed", frozenset())}


def map_run(tmp_path, test_file, *options):
    """pytest over ``test_file`` with the test-map plugin writing to
    tmp_path/out, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *options, "-p", "no:cacheprovider",
         "-p", "harness.mutate.testmap_plugin", "--testmap-out", str(tmp_path / "out"),
         str(test_file)], cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_a_map_run_cut_short_keeps_the_tests_that_finished(tmp_path):
    """The second test kills its pytest (as a dying xdist worker): the
    first one's line is in the file already."""
    (tmp_path / "test_two.py").write_text(
        "import os\n\ndef test_first():\n    pass\n\n"
        "def test_second():\n    os._exit(3)\n")
    proc = map_run(tmp_path, tmp_path / "test_two.py", "-p", "no:xdist")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = (tmp_path / "out" / "main.jsonl").read_text().splitlines()
    (test, info), = merge(lines).items()
    assert (test, info.outcome, info.functions) == ("test_two.py::test_first", "passed",
                                                   frozenset())


def test_under_xdist_only_the_workers_write_the_map(tmp_path):
    """The controller sees every test's report but runs no machine: a file
    of its own would list each test with no functions and, merged after
    the workers' files, hide what they measured."""
    (tmp_path / "test_some.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('i', range(4))\ndef test_one(i):\n    pass\n")
    proc = map_run(tmp_path, tmp_path / "test_some.py", "-n", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files and all(f.startswith("gw") for f in files), files
    lines = [line for f in files for line in (tmp_path / "out" / f).read_text().splitlines()]
    assert sorted(merge(lines)) == [f"test_some.py::test_one[{i}]" for i in range(4)]
    assert len(lines) == 4, "each test once"


def test_changed_lines_of_a_zero_context_diff():
    diff = ("@@ -3 +3 @@\n-a\n+b\n"  # one line changed
            "@@ -10,0 +11,2 @@\n+c\n+d\n"  # two added
            "@@ -20,2 +21,0 @@\n-e\n-f\n")  # two removed after line 21
    assert changed_lines(diff) == {3, 11, 12, 21}


SOURCE = b"""int one(int a)
{
    return a + 1;
}

static int two(int b)
{
    return b * 2;
}
"""


def test_changed_functions_are_those_whose_span_holds_a_changed_line():
    assert changed_functions(SOURCE, {3}) == {"one"}
    assert changed_functions(SOURCE, {6, 8}) == {"two"}
    assert changed_functions(SOURCE, {5}) == set()  # between the functions


def test_a_signature_names_the_line_before_and_after_without_its_number():
    found = mutants_of_text(SOURCE, "firmware/x.c")
    plus = next(m for m in found if m.operator == "aor" and m.function == "one")
    assert plus.signature() == "firmware/x.c:one:aor: return a + 1; => return a - 1;"
    moved = mutants_of_text(b"\n\n" + SOURCE, "firmware/x.c")
    assert plus.signature() in {m.signature() for m in moved}


def test_equivalents_parse_and_stale_entries():
    text = ("# reviewed\n\nfirmware/x.c:one:aor: return a + 1; => return a - 1;  # no test\n"
            "firmware/x.c:gone:ror: a < b => a <= b  # the function is gone\n")
    entries = equivalents.parse(text)
    assert entries["firmware/x.c:one:aor: return a + 1; => return a - 1;"] == "no test"
    assert equivalents.stale(entries, mutants_of_text(SOURCE, "firmware/x.c")) == [
        "firmware/x.c:gone:ror: a < b => a <= b"]


def test_an_equivalent_without_a_reason_is_refused():
    with pytest.raises(ConfigError, match=r"x.txt:2: an entry is `SIGNATURE  # REASON`"):
        equivalents.parse("# c\nfirmware/x.c:one:aor: a => b\n", "x.txt")


def test_the_reviewed_list_in_the_repository_parses():
    equivalents.load()
