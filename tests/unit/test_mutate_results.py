"""The mutation run's records: the summary line's counts and score, per-file
and per-function scores, and the results file's round trip."""

import pytest

from harness.mutate.results import MutantResult, RunResults, score_by


def result(mid: str, status: str, function: str = "f", file: str = "firmware/mm/pmm.c",
           seconds: float = 1.0) -> MutantResult:
    return MutantResult(id=mid, file=file, function=function, line=1, col=1, operator="ror",
                        description="< -> <=", diff="", status=status, seconds=seconds)


RUN = RunResults(mutants=[result("a", "killed"), result("b", "timeout"), result("c", "survived"),
                          result("d", "stillborn"), result("e", "equivalent", function="g"),
                          result("f", "killed", file="firmware/mm/vmm.c")], seconds=12.34)


def test_the_summary_counts_timeouts_as_killed_and_leaves_stillborn_and_equivalents_out():
    assert RUN.summary() == {"mutants": 6, "killed": 3, "stillborn": 1, "survived": 1,
                             "timeouts": 1, "equivalent": 1, "score": 0.75, "seconds": 12.3}


def test_an_empty_run_scores_one():
    assert RunResults().summary()["score"] == 1.0


def test_scores_per_file_and_per_function():
    files = score_by(RUN, "file")
    assert list(files) == ["firmware/mm/pmm.c", "firmware/mm/vmm.c"]
    assert files["firmware/mm/pmm.c"]["score"] == round(2 / 3, 4)
    assert files["firmware/mm/pmm.c"]["seconds"] == 5.0
    functions = score_by(RUN, "function")
    assert functions["firmware/mm/pmm.c:g"]["equivalent"] == 1
    assert functions["firmware/mm/pmm.c:g"]["score"] == 1.0


def test_the_results_file_round_trips(tmp_path):
    path = tmp_path / "results.json"
    RUN.save(path)
    assert RunResults.load(path) == RUN


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown status 'dead'"):
        result("x", "dead")


def test_a_second_look_replaces_only_the_mutants_judged_again():
    again = RunResults(mutants=[result("c", "killed")], seconds=2.0, commit="abc")
    updated = RUN.updated(again)
    assert [m.status for m in updated.mutants] == ["killed", "timeout", "killed", "stillborn",
                                                   "equivalent", "killed"]
    assert (updated.seconds, updated.commit) == (14.34, "abc")
    assert updated.summary()["score"] == 1.0
