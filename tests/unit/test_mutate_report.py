"""The mutation run's text report, line for line, and the pure rules the HTML
report marks lines and names pages by (the pages themselves are judged in a
browser: tests/suite/test_mutate_html.py)."""

import pytest

from harness.mutate.report_html import line_status, page_name, write_html
from harness.mutate.report_text import score_text, text_report
from harness.mutate.results import MutantResult, RunResults

DIFF = ("--- a/firmware/mm/pmm.c\n+++ b/firmware/mm/pmm.c\n@@ -7 +7 @@\n"
        "-    if (i < n && used)\n+    if (i <= n && used)\n")


def result(mid: str, status: str, function: str = "pmm_alloc", file: str = "firmware/mm/pmm.c",
           line: int = 7, **kw) -> MutantResult:
    return MutantResult(id=f"{file}:{line}:9:{mid}", file=file, function=function, line=line,
                        col=9, operator=mid.split(":")[0], description="< -> <=", diff=DIFF,
                        status=status, **kw)


RUN = RunResults(seconds=93.27, commit="1371e81", mutants=[
    result("ror:1", "killed", killed_by="tests/pmm/test_model.py::test_lowest"),
    result("ror:0", "survived"),
    result("stmt-del:0", "timeout", line=3, detail="no verdict in 120 s"),
    result("const:0", "stillborn", line=9),
    result("bit-drop:0", "equivalent", function="pmm_free", line=20,
           detail="the mask is applied again by the caller"),
    result("aor:0", "survived", function="pmm_free", line=22, covered=False),
    result("ror:0", "killed", file="firmware/mm/vmm.c", function="vmm_map", line=5),
])


def test_the_text_report_line_by_line():
    assert text_report(RUN).splitlines() == [
        "mutation score 0.600: 7 mutants, 3 killed (1 by timeout), 2 survived, 1 stillborn, "
        "1 equivalent, 93.3 s",
        "commit 1371e81",
        "",
        "file               mutants  killed  timeouts  survived  stillborn  equivalent  score",
        "firmware/mm/pmm.c        6       2         1         2          1           1  0.500",
        "firmware/mm/vmm.c        1       1         0         0          0           0  1.000",
        "",
        "function                     mutants  killed  timeouts  survived  stillborn  equivalent"
        "  score",
        "firmware/mm/pmm.c:pmm_alloc        4       2         1         1          1           0"
        "  0.667",
        "firmware/mm/pmm.c:pmm_free         2       0         0         1          0           1"
        "  0.000",
        "firmware/mm/vmm.c:vmm_map          1       1         0         0          0           0"
        "  1.000",
        "",
        "timeouts (1): the tests hung instead of failing",
        "  firmware/mm/pmm.c:3:9:stmt-del:0  pmm_alloc: < -> <=  [no verdict in 120 s]",
        "",
        "survivors (2)",
        "firmware/mm/pmm.c:7:9:ror:0  pmm_alloc: < -> <=",
        "    --- a/firmware/mm/pmm.c",
        "    +++ b/firmware/mm/pmm.c",
        "    @@ -7 +7 @@",
        "    -    if (i < n && used)",
        "    +    if (i <= n && used)",
        "firmware/mm/pmm.c:22:9:aor:0  pmm_free: < -> <= (not covered)",
        "    --- a/firmware/mm/pmm.c",
        "    +++ b/firmware/mm/pmm.c",
        "    @@ -7 +7 @@",
        "    -    if (i < n && used)",
        "    +    if (i <= n && used)",
        "",
        "equivalent (1, not scored)",
        "  firmware/mm/pmm.c:20:9:bit-drop:0  pmm_free: < -> <=  "
        "[the mask is applied again by the caller]",
    ]


def test_a_clean_run_says_so_and_lists_no_timeouts_or_equivalents():
    run = RunResults(seconds=1.0, mutants=[result("ror:0", "killed")])
    assert text_report(run).splitlines()[0] == (
        "mutation score 1.000: 1 mutants, 1 killed (0 by timeout), 0 survived, 0 stillborn, "
        "0 equivalent, 1.0 s")
    assert text_report(run).endswith("\n\nsurvivors (0)\n")


def test_nothing_scored_shows_no_score_rather_than_a_perfect_one():
    only_stillborn = RunResults(mutants=[result("const:0", "stillborn")]).summary()
    assert only_stillborn["score"] == 1.0 and score_text(only_stillborn) == "-"
    all_survived = RunResults(mutants=[result("ror:0", "survived")]).summary()
    assert score_text(all_survived) == "0.000"


@pytest.mark.parametrize(("statuses", "mark"), [
    (["killed"], "killed"),
    (["timeout"], "killed"),
    (["killed", "survived"], "survived"),
    (["survived-uncovered", "survived"], "not-covered"),
    (["survived-uncovered", "killed"], "not-covered"),
    (["killed", "stillborn"], "killed"),
    (["equivalent", "stillborn"], "equivalent"),
    (["equivalent", "timeout"], "killed"),
    (["stillborn", "stillborn"], "stillborn"),
])
def test_a_line_is_marked_by_its_worst_mutant(statuses, mark):
    mutants = [result(f"ror:{i}", s.split("-")[0], covered=not s.endswith("uncovered"))
               for i, s in enumerate(statuses)]
    assert line_status(mutants) == mark


def test_page_names_are_flat_and_safe():
    assert page_name("firmware/mm/pmm.c") == "firmware_mm_pmm.c.html"
    assert page_name("../a b/<x>.c") == ".._a_b__x_.c.html"


def test_mutants_the_source_no_longer_has_are_listed_not_lost(tmp_path):
    (tmp_path / "firmware" / "mm").mkdir(parents=True)
    (tmp_path / "firmware" / "mm" / "pmm.c").write_text("int x;\n" * 8)  # no line 9, 20, 22
    index = write_html(RUN, tmp_path / "report", root=tmp_path)
    pmm = (index.parent / "firmware_mm_pmm.c.html").read_text()
    lost = pmm.split('<p class="lost">mutants on lines the source no longer has:</p>')[1]
    lost = lost.split('<table class="source">')[0]
    assert [m.id for m in RUN.mutants if m.id in lost] == [
        "firmware/mm/pmm.c:9:9:const:0", "firmware/mm/pmm.c:20:9:bit-drop:0",
        "firmware/mm/pmm.c:22:9:aor:0"]
    vmm = (index.parent / "firmware_mm_vmm.c.html").read_text()
    assert '<p class="lost">firmware/mm/vmm.c was not found; its mutants:</p>' in vmm
    assert 'data-id="firmware/mm/vmm.c:5:9:ror:0"' in vmm
