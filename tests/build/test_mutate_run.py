"""A mutation run end to end, on real mutants of the PMM judged by real tests
through pytest-xdist: one killed (by the test the map says reaches it), one
surviving the two tests it is given, one reviewed equivalent (not run), one
stillborn; then the report of the saved results with its JSON line.

The test map is written by hand, two tests instead of the measured few
hundred, so the run takes a minute; harness/mutate/testmap.py measures the
real one."""

import json

from harness.mutate import cli
from harness.mutate.generate import mutants
from harness.mutate.results import RunResults
from harness.mutate.run import RunOptions, run_mutants
from harness.mutate.sandbox import REPO
from harness.mutate.testmap import TestInfo, TestMap, fingerprint

EXHAUSTION = "tests/pmm/test_allocation.py::test_exhaustion_then_full_release"
BOOT = "tests/boot/test_boot.py::test_stopped_at_kernel_ready"


def pick(path, function, description):
    (m,) = [m for m in mutants([REPO / path], REPO)
            if m.function == function and m.description == description]
    return m


def test_killed_survived_equivalent_and_stillborn_mutants_are_told_apart(tmp_path, capsys):
    killed = pick("firmware/mm/pmm.c", "summary_clear_full", "`/` -> `*`")
    survives = pick("firmware/mm/pmm.c", "summary_clear_full", "`==` -> `!=`")
    equivalent = pick("firmware/mm/pmm.c", "summary_clear_full", "delete early return `return;`")
    stillborn = pick("firmware/kernel/proc.c", "proc_spawn",
                     "swap arguments `p->name` and `name` of strlcpy()")
    TestMap(fingerprint(), {
        EXHAUSTION: TestInfo(2.0, "passed", frozenset({"pmm.c:summary_clear_full"})),
        BOOT: TestInfo(0.3, "passed", frozenset({"pmm.c:summary_clear_full", "proc_spawn"})),
    }, frozenset({"pmm.c:summary_clear_full", "proc_spawn"})).save(tmp_path / "testmap.json")
    (tmp_path / "equivalents.txt").write_text(
        f"# reviewed\n{equivalent.signature()}  # a parent bit is set only for a full word\n")

    results = run_mutants([killed, survives, equivalent, stillborn],
                          RunOptions(work=tmp_path, workers=2,
                                     equivalents=tmp_path / "equivalents.txt"))

    by_id = {r.id: r for r in results.mutants}
    assert [r.id for r in results.mutants] == [killed.id, survives.id, equivalent.id,
                                               stillborn.id]
    k = by_id[killed.id]
    assert (k.status, k.killed_by, k.covered) == ("killed", EXHAUSTION, True)
    assert k.detail.startswith("AssertionError: assert "), k.detail
    s = by_id[survives.id]
    assert (s.status, s.tests_run, s.killed_by, s.diff) == ("survived", 2, "", survives.diff())
    e = by_id[equivalent.id]
    assert (e.status, e.tests_run, e.detail) == (
        "equivalent", 0, "a parent bit is set only for a full word")
    d = by_id[stillborn.id]
    assert (d.status, d.tests_run) == ("stillborn", 0)
    assert "proc.c" in d.detail and "error" in d.detail
    assert results.summary() | {"seconds": 0} == {
        "mutants": 4, "killed": 1, "stillborn": 1, "survived": 1, "timeouts": 0,
        "equivalent": 1, "score": 0.5, "seconds": 0}
    # only the killer was checked on the pristine build; the firmware tree was never written
    assert (tmp_path / "pristine" / "kernel.elf").is_file()
    assert RunResults.load(tmp_path / "results.json") == results

    assert cli.main(["--report", "--work", str(tmp_path), "--fail-under", "0.5"]) == 0
    assert cli.main(["--report", "--work", str(tmp_path), "--fail-under", "0.6"]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == results.summary()
