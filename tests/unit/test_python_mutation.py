"""``python -m harness mutate python`` without running the mutation run:
mutmut's results read back (from files mutmut's own code wrote), the keys of
mutants, the score, and the reviewed list of equivalent mutants against the
mutants mutmut makes of harness/decode/ now."""

import json
import os

import pytest

from harness.mutate import python_decode
from harness.mutate.python_decode import (
    EQUIVALENTS,
    PyMutant,
    decoder_files,
    function_of,
    generate,
    load_equivalents,
    mutate_source,
    parse_equivalents,
    read_results,
    summarize,
)

pytest.importorskip("mutmut", reason="mutmut comes with the test and dev extras")

SOURCE = '''\
class Box:
    def area(self, w, h):
        return w * h


def skip_odd(values):
    out = []
    for v in values:
        if v % 2:
            continue
        out.append(v)
    for v in values:
        if v > 9:
            continue
    return out
'''
FILE = "harness/decode/box.py"


@pytest.fixture(scope="module")
def mutated():
    return mutate_source(FILE, SOURCE)


def by_change(mutants):
    return {(m.function, m.change, m.nth): m for m in mutants}


def test_function_names():
    assert function_of("harness.decode.bitmap.xǁBitmapǁfirst_clear__mutmut_3") == \
        "Bitmap.first_clear"
    assert function_of("harness.decode.paging.x_pdx__mutmut_12") == "pdx"
    assert function_of("harness.decode.paging.x__append__mutmut_1") == "_append"
    assert function_of("harness.decode.bitmap.xǁBitmapǁ__init____mutmut_4") == "Bitmap.__init__"


def test_mutants_are_named_by_their_change(mutated):
    code, names = mutated
    assert names and all(n.startswith("harness.decode.box.x") for n in names)
    mutants = python_decode.mutants_of(FILE, code, dict.fromkeys(names, "survived"))
    assert len(mutants) == len(names) == len({m.key for m in mutants})
    area = by_change(mutants)[("Box.area", "return w / h", 0)]
    assert area.key == "harness/decode/box.py:Box.area:return w / h"
    assert area.diff.splitlines() == [
        "--- harness/decode/box.py", "+++ harness/decode/box.py", "@@ -1,2 +1,2 @@",
        " def area(self, w, h):", "-    return w * h", "+    return w / h"]


def test_identical_changes_are_numbered_in_mutmuts_order(mutated):
    code, names = mutated
    mutants = python_decode.mutants_of(FILE, code, dict.fromkeys(names, "survived"))
    breaks = [m for m in mutants if m.change == "break"]
    assert [m.nth for m in breaks] == [1, 2]
    assert [m.key for m in breaks] == ["harness/decode/box.py:skip_odd:break [1]",
                                       "harness/decode/box.py:skip_odd:break [2]"]
    first, second = (python_decode.mutant_number(m.name) for m in breaks)
    assert first < second
    for m, condition in zip(breaks, ("if v % 2:", "if v > 9:"), strict=True):
        lines = m.diff.splitlines()
        at = lines.index("-            continue")
        assert lines[at - 1].strip() == condition and lines[at + 1] == "+            break"


def write_run(workdir, code, names, exit_codes):
    """A finished run's files as mutmut writes them: the mutated module and
    its .meta (written by mutmut's own SourceFileMutationData)."""
    from mutmut.mutation.data import SourceFileMutationData

    target = workdir / "mutants" / FILE
    target.parent.mkdir(parents=True)
    target.write_text(code)
    old = os.getcwd()
    os.chdir(workdir)
    try:
        data = SourceFileMutationData(path=FILE)
        data.exit_code_by_key = dict(zip(names, exit_codes, strict=True))
        data.save()
    finally:
        os.chdir(old)


def test_results_are_read_from_mutmuts_files(tmp_path, mutated):
    code, names = mutated
    # killed (1), survived (0), timeout (SIGXCPU), no tests (33), segfault
    codes = [[1, 0, -24, 33, -11][i % 5] for i in range(len(names))]
    write_run(tmp_path, code, names, codes)
    mutants = read_results(tmp_path, [FILE, "harness/decode/absent.py"])
    assert [m.name for m in mutants] == sorted(names, key=lambda n: (
        n.partition("__mutmut_")[0], python_decode.mutant_number(n)))
    status = {m.name: (m.status, m.verdict) for m in mutants}
    expected = {0: ("survived", "survived"), 1: ("killed", "killed"),
                -24: ("timeout", "timeout"), 33: ("no tests", "survived"),
                -11: ("segfault", "killed")}
    assert status == {n: expected[c] for n, c in zip(names, codes, strict=True)}


def mutant(change, verdict_status, function="f"):
    diff = f"--- x.py\n+++ x.py\n@@ -1 +1 @@\n-old\n+{change}"
    return PyMutant(f"harness.decode.x.x_{function}__mutmut_1", "x.py", function, diff,
                    verdict_status)


def test_summary_subtracts_reviewed_equivalents_that_survive():
    mutants = [mutant("a", "killed"), mutant("b", "killed"), mutant("c", "timeout"),
               mutant("d", "survived"), mutant("e", "survived"), mutant("f", "no tests"),
               mutant("g", "killed")]
    equivalents = {"x.py:f:e": "reason", "x.py:f:g": "killed: not equivalent after all",
                   "x.py:f:gone": "no such mutant any more"}
    s = summarize(mutants, equivalents)
    assert [m.change for m in s.survivors] == ["d", "f"]
    assert [m.change for m in s.equivalent] == ["e"]
    assert s.stale == ["x.py:f:g", "x.py:f:gone"]
    assert s.score == pytest.approx(4 / 6)  # (3 killed + 1 timeout) / (7 - 1 equivalent)
    assert s.line(12.34) == {"python_mutants": 7, "killed": 3, "survived": 2, "equivalent": 1,
                             "timeouts": 1, "score": 0.6667, "seconds": 12.3}
    assert summarize([], {}).score == 1.0


def test_change_of_a_mutant_that_only_removes():
    m = PyMutant("n__mutmut_1", "x.py", "f", "--- x.py\n+++ x.py\n@@ -1 +1 @@\n-    x = 1\n", "")
    assert m.change == "removed: x = 1"


def test_equivalents_format():
    text = ("# a comment\n\n"
            "harness/decode/a.py:f:if x:  # a comment in the code  # the reason\n"
            "harness/decode/a.py:C.m:return {a:#x}  # why\n")
    assert parse_equivalents(text) == {
        "harness/decode/a.py:f:if x:  # a comment in the code": "the reason",
        "harness/decode/a.py:C.m:return {a:#x}": "why"}
    for bad in ("harness/decode/a.py:f:x = 1\n", "harness/decode/a.py:f:x = 1  # \n",
                "no key  # reason\n", "a.py:f:x  # one\na.py:f:x  # twice\n"):
        with pytest.raises(ValueError):
            parse_equivalents(bad)


def test_main_reports_the_last_run(tmp_path, mutated, monkeypatch, capsys):
    code, names = mutated
    write_run(tmp_path, code, names, [0] + [1] * (len(names) - 1))
    survivor = by_change(read_results(tmp_path, [FILE]))
    survivor = next(m for m in survivor.values() if m.status == "survived")
    listed = tmp_path / "equivalent.txt"
    listed.write_text("")
    monkeypatch.setattr(python_decode, "WORKDIR", tmp_path)
    monkeypatch.setattr(python_decode, "EQUIVALENTS", listed)
    monkeypatch.setattr(python_decode, "decoder_files", lambda: [FILE])

    assert python_decode.main(["--no-run", "--fail-under", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"# key: {survivor.key}"
    assert json.loads(out[-1]) == {
        "python_mutants": len(names), "killed": len(names) - 1, "survived": 1,
        "equivalent": 0, "timeouts": 0, "score": round((len(names) - 1) / len(names), 4),
        "seconds": None}

    listed.write_text(f"{survivor.key}  # reviewed\n")
    assert python_decode.main(["--no-run", "--json", "--fail-under", "1"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (line["survived"], line["equivalent"], line["score"]) == (0, 1, 1.0)


# -- the real list against the real decoders ------------------------------------------


def reviewed_files():
    """The decoder files the reviewed list names an entry of (the others'
    mutants cannot match one: mutmut takes a second a file, so only these).
    The keys' uniqueness is checked on these files too, so a duplicate key
    in another file shows only once an entry for that file is written."""
    named = {key.split(":", 1)[0] for key in load_equivalents(EQUIVALENTS)}
    return sorted(named & set(decoder_files()))


@pytest.fixture(scope="module")
def live_mutants():
    return generate(reviewed_files())


def test_every_reviewed_equivalent_names_a_live_mutant(live_mutants):
    """An entry whose mutant is gone (the code changed, or the file is no
    decoder now) must be removed or updated, never left to match nothing."""
    keys = {m.key for m in live_mutants}
    stale = sorted(set(load_equivalents(EQUIVALENTS)) - keys)
    assert not stale, "stale entries in equivalent_python.txt:\n" + "\n".join(stale)


def test_keys_name_one_mutant_each(live_mutants):
    assert len({m.key for m in live_mutants}) == len(live_mutants)
    # every file was mutated (pae.py alone has 500 mutants)
    assert {m.file for m in live_mutants} == set(reviewed_files())
    assert len(live_mutants) > 1000


def test_every_entry_gives_a_reason():
    short = [k for k, reason in load_equivalents(EQUIVALENTS).items() if len(reason) < 10]
    assert not short, f"entries without a real reason: {short}"


def test_workdir_links_the_tree_and_starts_without_mutants(tmp_path):
    repo, workdir = tmp_path / "repo", tmp_path / "build" / "pymut"
    for name in ("harness", "tests"):
        (repo / name).mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    (workdir / "mutants" / "harness").mkdir(parents=True)
    (workdir / "harness").symlink_to(tmp_path / "elsewhere")  # a link from an old place
    python_decode.prepare_workdir(workdir, repo)
    assert not (workdir / "mutants").exists()
    assert {p.name: p.resolve() for p in workdir.iterdir()} == {
        "harness": repo / "harness", "tests": repo / "tests",
        "pyproject.toml": repo / "pyproject.toml"}
