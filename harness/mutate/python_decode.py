"""``python -m harness mutate python``: mutation testing of the harness's pure
decoders (harness/decode/: paging, page faults, bitmaps, records, QEMU's and
GDB's text) with mutmut, against their unit tests (no QEMU).

mutmut runs in build/pymut/, which links to harness/, tests/ and
pyproject.toml (``[tool.mutmut]`` there says what to mutate and which tests to
run); its working copy, mutants/, and its caches stay below it.  Every run
starts from an empty mutants/: mutmut keeps a verdict while the mutated
function is unchanged, even when the tests changed, so a cached "survived"
could hide a test that now kills it.

A mutant is named by what it changed, not by mutmut's number (which shifts
when a function is edited): ``FILE:FUNCTION:CHANGE``, CHANGE being the
mutated line(s) as the mutant has them.  Mutants that change nothing a caller
can observe are listed, reviewed, with that key and a reason each in
equivalent_python.txt; they are subtracted from the score, never dropped
silently (the run reports entries that no longer match a surviving mutant).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DECODE = "harness/decode"
WORKDIR = REPO / "build" / "pymut"
LINKED = ("harness", "tests", "pyproject.toml")  # what mutmut copies into mutants/
EQUIVALENTS = Path(__file__).with_name("equivalent_python.txt")

# mutmut's statuses (mutmut.stats.status_by_exit_code) as this score counts them:
# a crashed test process (segfault, or killed after its CPU budget) detected
# the mutant; everything else that is not killed or a timeout survived
# (including "no tests": no selected test calls the function).
KILLED = frozenset({"killed", "caught by type check", "segfault"})
TIMEOUT = frozenset({"timeout"})
REASON_SEPARATOR = "  # "


@dataclass(frozen=True)
class PyMutant:
    """One mutant of a decoder function, with mutmut's verdict."""

    name: str      # mutmut's: harness.decode.bitmap.xǁBitmapǁfirst_clear__mutmut_3
    file: str      # harness/decode/bitmap.py
    function: str  # Bitmap.first_clear
    diff: str      # unified diff of the function, original -> mutant
    status: str = "not checked"
    nth: int = 0   # 1, 2... when several mutants of the function make the same change

    @property
    def change(self) -> str:
        """The mutated line(s) as the mutant has them, stripped, joined by " / "."""
        lines = self.diff.splitlines()[2:]  # after the ---/+++ file header
        added = [s[1:].strip() for s in lines if s.startswith("+")]
        if added:
            return " / ".join(added)
        return "removed: " + " / ".join(s[1:].strip() for s in lines if s.startswith("-"))

    @property
    def key(self) -> str:
        """FILE:FUNCTION:CHANGE, and " [n]" for the n-th of identical changes
        (e.g. either of two ``continue`` made ``break``) in mutmut's order."""
        return f"{self.file}:{self.function}:{self.change}" + (f" [{self.nth}]" if self.nth else "")

    @property
    def verdict(self) -> str:
        """killed, timeout or survived, as the score counts it."""
        if self.status in KILLED:
            return "killed"
        return "timeout" if self.status in TIMEOUT else "survived"


def function_of(name: str) -> str:
    """mutmut's mangled name -> "Class.method" or "function"."""
    mangled = name.rpartition(".")[2].partition("__mutmut_")[0]
    if mangled.startswith("xǁ"):
        return mangled[2:].replace("ǁ", ".")
    return mangled.removeprefix("x_")


def generated_functions(mutated_code: str) -> dict[str, str]:
    """The functions mutmut generated in a mutated module (``..__mutmut_orig``
    and ``..__mutmut_N``, top level or in a class), name -> source, dedented."""
    lines = mutated_code.splitlines()
    out = {}
    tree = ast.parse(mutated_code)
    nodes: list[ast.stmt] = list(tree.body)
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            nodes.extend(node.body)
    for node in nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name:
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            body = lines[first - 1:node.end_lineno]
            indent = len(body[0]) - len(body[0].lstrip())
            out[node.name] = "\n".join(line[indent:] for line in body)
    return out


def mutant_diff(functions: dict[str, str], name: str, file: str) -> str:
    """The unified diff of one mutant against its original, both renamed to
    the function's own name, so that only the mutation differs."""
    local = name.rpartition(".")[2]
    base = local.partition("__mutmut_")[0]
    plain = function_of(name).rpartition(".")[2]
    orig = functions[base + "__mutmut_orig"].replace(base + "__mutmut_orig", plain, 1)
    mutant = functions[local].replace(local, plain, 1)
    return "\n".join(difflib.unified_diff(orig.splitlines(), mutant.splitlines(),
                                          fromfile=file, tofile=file, lineterm=""))


def module_prefix(file: str) -> str:
    return file.removesuffix(".py").replace("/", ".")


def mutant_number(name: str) -> int:
    return int(name.rpartition("__mutmut_")[2])


def mutants_of(file: str, mutated_code: str, statuses: dict[str, str]) -> list[PyMutant]:
    """PyMutants for one file: ``statuses`` maps mutmut's names (all of the
    file's mutants) to statuses."""
    functions = generated_functions(mutated_code)
    made = [PyMutant(name, file, function_of(name), mutant_diff(functions, name, file), status)
            for name, status in sorted(statuses.items(), key=lambda kv: (
                kv[0].partition("__mutmut_")[0], mutant_number(kv[0])))]
    same: dict[tuple[str, str], list[int]] = {}
    for i, m in enumerate(made):
        same.setdefault((m.function, m.change), []).append(i)
    for indices in same.values():
        if len(indices) > 1:
            for nth, i in enumerate(indices, 1):
                made[i] = replace(made[i], nth=nth)
    return made


def decoder_files(repo: Path = REPO) -> list[str]:
    return sorted(str(p.relative_to(repo)) for p in (repo / DECODE).glob("*.py"))


def mutate_source(file: str, source: str, repo: Path = REPO) -> tuple[str, list[str]]:
    """mutmut's mutated module for ``source`` (as ``file``, relative to
    ``repo``) and its mutants' full names, without running anything."""
    import os

    from mutmut.mutation.file_mutation import mutate_file_contents  # the dev/test extra

    old_cwd = Path.cwd()
    os.chdir(repo)  # mutmut reads its configuration from ./pyproject.toml
    try:
        mutated = mutate_file_contents(file, source)
    finally:
        os.chdir(old_cwd)
    return mutated.code, [f"{module_prefix(file)}.{n}" for n in mutated.mutant_names]


def generate(files: Iterable[str], repo: Path = REPO) -> list[PyMutant]:
    """Every mutant mutmut makes of ``files`` (paths relative to ``repo``):
    what a run would test."""
    out: list[PyMutant] = []
    for file in files:
        code, names = mutate_source(file, (repo / file).read_text(), repo)
        out.extend(mutants_of(file, code, dict.fromkeys(names, "not checked")))
    return out


def read_results(workdir: Path, files: Iterable[str]) -> list[PyMutant]:
    """The verdicts of the last run: mutants/FILE.meta (mutmut's exit code per
    mutant) and mutants/FILE (the mutated module, for the diffs)."""
    from mutmut.stats import status_by_exit_code

    out: list[PyMutant] = []
    for file in files:
        meta = workdir / "mutants" / (file + ".meta")
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        statuses = {name: status_by_exit_code[code] for name, code in codes.items()}
        out.extend(mutants_of(file, (workdir / "mutants" / file).read_text(), statuses))
    return out


def parse_equivalents(text: str) -> dict[str, str]:
    """equivalent_python.txt: ``FILE:FUNCTION:CHANGE  # reason`` per line, '#'
    lines and blank lines ignored -> {key: reason}.  The reason follows the
    last "  # " (a mutated line may carry a comment of its own)."""
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, reason = line.rpartition(REASON_SEPARATOR)
        if not sep or not reason.strip() or key.count(":") < 2:
            raise ValueError(f"equivalent_python.txt:{number}: expected "
                             f"'FILE:FUNCTION:CHANGE{REASON_SEPARATOR}reason', got {line!r}")
        if key in out:
            raise ValueError(f"equivalent_python.txt:{number}: {key!r} is listed twice")
        out[key] = reason.strip()
    return out


def load_equivalents(path: Path) -> dict[str, str]:
    return parse_equivalents(path.read_text()) if path.exists() else {}


@dataclass(frozen=True)
class Summary:
    total: int
    killed: int
    timeouts: int
    equivalent: list[PyMutant]
    survivors: list[PyMutant]  # not killed, no timeout, not a reviewed equivalent
    stale: list[str]           # listed equivalents no surviving mutant matches

    @property
    def score(self) -> float:
        judged = self.total - len(self.equivalent)
        return (self.killed + self.timeouts) / judged if judged else 1.0

    def line(self, seconds: float | None) -> dict[str, object]:
        return {"python_mutants": self.total, "killed": self.killed,
                "survived": len(self.survivors), "equivalent": len(self.equivalent),
                "timeouts": self.timeouts, "score": round(self.score, 4),
                "seconds": None if seconds is None else round(seconds, 1)}


def summarize(mutants: list[PyMutant], equivalents: dict[str, str]) -> Summary:
    """Counts for the score: a reviewed equivalent counts only while it survives
    (one that a test kills is a killed mutant, and its entry is stale)."""
    survived = [m for m in mutants if m.verdict == "survived"]
    equivalent = [m for m in survived if m.key in equivalents]
    matched = {m.key for m in equivalent}
    return Summary(total=len(mutants),
                   killed=sum(m.verdict == "killed" for m in mutants),
                   timeouts=sum(m.verdict == "timeout" for m in mutants),
                   equivalent=equivalent,
                   survivors=[m for m in survived if m.key not in equivalents],
                   stale=sorted(set(equivalents) - matched))


def prepare_workdir(workdir: Path, repo: Path = REPO) -> None:
    """build/pymut with links to what mutmut copies, and no mutants/ yet."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = workdir / name
        if link.is_symlink() or link.exists():
            link.unlink()  # made fresh: the tree may have moved since
        link.symlink_to(repo / name)
    shutil.rmtree(workdir / "mutants", ignore_errors=True)


def run_mutmut(workdir: Path, max_children: int | None, log: Path) -> int:
    """``mutmut run`` in ``workdir``, its output to ``log``; its exit status."""
    mutmut = Path(sys.executable).with_name("mutmut")
    command = [str(mutmut) if mutmut.exists() else "mutmut", "run"]
    if max_children:
        command += ["--max-children", str(max_children)]
    with log.open("w") as out:
        return subprocess.run(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, check=False).returncode


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness mutate python",
        description="mutmut on harness/decode/ against its unit tests (see [tool.mutmut] in "
                    "pyproject.toml); survivors with their diffs, then a JSON summary line")
    p.add_argument("--json", action="store_true",
                   help="survivors as JSON objects (one per line) instead of diffs")
    p.add_argument("--fail-under", type=float, default=0.9, metavar="SCORE",
                   help="exit 1 when the score is below SCORE (default 0.9)")
    p.add_argument("--max-children", type=int, metavar="N",
                   help="mutmut's parallel workers (default: one per CPU)")
    p.add_argument("--no-run", action="store_true",
                   help="report the last run in build/pymut/ without running mutmut again")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        equivalents = load_equivalents(EQUIVALENTS)
    except ValueError as e:
        print(f"mutate python: {e}", file=sys.stderr)
        return 2
    seconds = None
    if not args.no_run:
        prepare_workdir(WORKDIR)
        log = WORKDIR / "mutmut.log"
        start = time.monotonic()
        status = run_mutmut(WORKDIR, args.max_children, log)
        seconds = time.monotonic() - start
        if status != 0:
            tail = log.read_text(errors="replace").replace("\r", "\n").splitlines()[-20:]
            print("\n".join(tail), file=sys.stderr)
            print(f"mutate python: mutmut run failed with status {status} (log: {log})",
                  file=sys.stderr)
            return 2
    mutants = read_results(WORKDIR, decoder_files())
    if not mutants:
        print(f"mutate python: no results in {WORKDIR / 'mutants'} (run without --no-run)",
              file=sys.stderr)
        return 2
    summary = summarize(mutants, equivalents)
    for m in summary.survivors:
        if args.json:
            print(json.dumps({"name": m.name, "key": m.key, "status": m.status, "diff": m.diff}))
        else:
            print(f"# {m.name}: {m.status}\n# key: {m.key}\n{m.diff}\n")
    for key in summary.stale:
        print(f"mutate python: stale entry in {EQUIVALENTS.name} (no surviving mutant has it "
              f"now; remove it): {key}", file=sys.stderr)
    print(json.dumps(summary.line(seconds)))
    return 0 if summary.score >= args.fail_under else 1
