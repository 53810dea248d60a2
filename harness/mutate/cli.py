"""``python -m harness mutate``: list, show, apply and build mutants; judge
them with the suite (``--run``) and report what survived."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.mutate.changes import functions_changed_since
from harness.mutate.equivalents import EQUIVALENTS
from harness.mutate.generate import OPERATORS, Mutant, find, mutants, sample, unparsed
from harness.mutate.results import RunResults
from harness.mutate.run import DEFAULT_WORK, RunOptions, run_mutants
from harness.mutate.sandbox import REPO, apply, build_mutant, default_files
from harness.mutate.testmap import ensure_map


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness mutate",
        description="Mutants of the firmware's C, from its syntax tree (tree-sitter). "
                    "Operators: " + "; ".join(f"{k}: {v}" for k, v in OPERATORS.items()))
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--list", action="store_true", help="list the mutants")
    what.add_argument("--show", metavar="ID", help="print one mutant's unified diff")
    what.add_argument("--apply", metavar="ID",
                      help="write the mutant into a copy of the firmware tree (--to DIR)")
    what.add_argument("--run", action="store_true",
                      help="judge the selected mutants with the suite (pytest-xdist workers)")
    what.add_argument("--map", action="store_true",
                      help="measure the map from kernel functions to tests (coverage image)")
    what.add_argument("--report", action="store_true",
                      help="print the last run's report again (from WORK/results.json)")
    p.add_argument("--files", help="comma-separated C files (default: firmware/mm/*.c and "
                                   "kernel/syscall.c, proc.c, trap.c)")
    p.add_argument("--function", help="only mutants in this function")
    p.add_argument("--operator", help="only mutants of these operators (comma-separated)")
    p.add_argument("--sample", type=int, metavar="N", help="N mutants picked with --seed")
    p.add_argument("--seed", type=int, default=0, help="seed for --sample (default 0)")
    p.add_argument("--diff", metavar="BASE",
                   help="only mutants of functions changed since BASE (a git commit or branch)")
    p.add_argument("-n", "--workers", type=int, default=2,
                   help="--run/--map: local pytest-xdist workers (0: none; default 2)")
    p.add_argument("--tx", action="append", default=[], metavar="SPEC",
                   help="--run: xdist --tx spec, repeatable (e.g. ssh=host//python=python3"
                        "//chdir=/src/mmverify: a checkout with `make venv` done there)")
    p.add_argument("--budget-factor", type=float, default=3.0,
                   help="--run: a mutant may take this times its tests' measured time, "
                        "plus startup (default %(default)s)")
    p.add_argument("--rest", choices=("unmeasured", "all"), default="unmeasured",
                   help="--run: after the tests that reach the mutant's function, run the "
                        "tests whose reach is unknown (default), or all")
    p.add_argument("--check-equivalents", action="store_true",
                   help="--run: judge the reviewed equivalents too (else they are not run)")
    p.add_argument("--equivalents", type=Path, default=EQUIVALENTS,
                   help="--run: the reviewed equivalent mutants (default: %(default)s)")
    p.add_argument("--again", metavar="STATUSES",
                   help="--run: judge again the mutants the last run (WORK/results.json) gave "
                        "these statuses (e.g. survived,timeout: after adding tests), keeping "
                        "the rest of its results")
    p.add_argument("--rebuild-map", action="store_true", help="--run: measure the map again")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK,
                   help="--run: work directory (default build/mutate)")
    p.add_argument("--html", type=Path, metavar="DIR", help="--run/--report: write the HTML report")
    p.add_argument("--fail-under", type=float, metavar="SCORE",
                   help="--run/--report: exit 1 when the score is below SCORE")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--to", type=Path, metavar="DIR", help="where --apply copies the tree")
    p.add_argument("--build", action="store_true",
                   help="with --apply: build the copy; prints built or stillborn")
    return p


def _files(arg: str | None) -> list[Path]:
    if not arg:
        return default_files()
    out = []
    for name in filter(None, (s.strip() for s in arg.split(","))):
        path = Path(name) if Path(name).exists() else REPO / name
        if not path.is_file():
            raise SystemExit(f"mutate: no such file: {name}")
        out.append(path)
    return out


def _select(args: argparse.Namespace) -> list[Mutant]:
    found = mutants(_files(args.files), REPO)
    if args.function:
        found = [m for m in found if m.function == args.function]
    if args.operator:
        wanted = set(args.operator.split(","))
        unknown = wanted - set(OPERATORS)
        if unknown:
            raise SystemExit(f"mutate: unknown operator(s) {sorted(unknown)}; "
                             f"known: {', '.join(OPERATORS)}")
        found = [m for m in found if m.operator in wanted]
    if args.diff:
        changed = functions_changed_since(args.diff, _files(args.files), REPO)
        found = [m for m in found if m.function in changed.get(m.file, ())]
    if args.sample is not None:
        found = sample(found, args.sample, args.seed)
    return found


def _judge(args: argparse.Namespace) -> int:
    from harness.mutate.report_html import write_html
    from harness.mutate.report_text import text_report

    if args.run:
        previous = RunResults.load(args.work / "results.json") if args.again else None
        selected = _select(args)
        if previous is not None:
            again = {m.id for m in previous.mutants if m.status in args.again.split(",")}
            selected = [m for m in mutants(_files(args.files), REPO) if m.id in again]
            if len(selected) != len(again):
                raise SystemExit("mutate: --again: the source changed since the last run "
                                 "(some of its mutants are gone); run the selection anew")
        results = run_mutants(selected, RunOptions(
            work=args.work, workers=args.workers, tx=tuple(args.tx),
            budget_factor=args.budget_factor, rest=args.rest,
            check_equivalents=args.check_equivalents, equivalents=args.equivalents,
            rebuild_map=args.rebuild_map, base=args.diff or ""))
        if previous is not None:
            results = previous.updated(results)
            results.save(args.work / "results.json")
    else:
        results = RunResults.load(args.work / "results.json")
    print(text_report(results))
    if args.html:
        print(f"HTML report: {write_html(results, args.html)}")
    summary = results.summary()
    print(json.dumps(summary))
    score = summary["score"]
    below = args.fail_under is not None and isinstance(score, float) and score < args.fail_under
    return 1 if below else 0


def _files_for_id(mutant_id: str) -> str:
    return mutant_id.split(":", 1)[0]  # ids start with their file


def main(argv: list[str]) -> int:
    if argv[:1] == ["python"]:  # mutmut on harness/decode/, not the firmware's C
        from harness.mutate.python_decode import main as python_main
        return python_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    args.work = args.work.resolve()  # the child pytest runs in the repository, not here
    if args.sample is not None and args.sample < 0:
        parser.error("--sample needs N >= 0")
    if args.run or args.report:
        return _judge(args)
    if args.map:
        testmap = ensure_map(args.work, workers=args.workers, rebuild=True)
        print(f"{len(testmap.usable())} usable tests of {len(testmap.tests)}, "
              f"{len(testmap.keys)} functions, {testmap.seconds} s: {args.work / 'testmap.json'}")
        return 0
    if args.list:
        selected = _select(args)
        if args.json:
            for m in selected:
                print(json.dumps(m.summary()))
            return 0
        width = max((len(m.id) for m in selected), default=2)
        fwidth = max((len(m.function) for m in selected), default=8)
        print(f"{'id':{width}}  {'function':{fwidth}}  description")
        for m in selected:
            print(f"{m.id:{width}}  {m.function:{fwidth}}  {m.description}")
        print(f"{len(selected)} mutants", file=sys.stderr)
        skipped = unparsed(_files(args.files), REPO)
        if skipped and not args.function:
            print("not mutated (tree-sitter could not parse the body): " + ", ".join(skipped),
                  file=sys.stderr)
        return 0
    mutant_id = args.show or args.apply
    try:
        mutant = find(mutants(_files(args.files or _files_for_id(mutant_id)), REPO), mutant_id)
    except KeyError as e:
        print(f"mutate: {e.args[0]}", file=sys.stderr)
        return 2
    if args.show:
        sys.stdout.write(mutant.diff())
        return 0
    if args.to is None:
        print("mutate: --apply needs --to DIR (a copy of the firmware tree goes there)",
              file=sys.stderr)
        return 2
    if not args.build:
        print(apply(mutant, args.to))
        return 0
    result = build_mutant(mutant, args.to)
    print(result.status)
    if result.message:
        print(result.message)
    return 0 if result.status == "built" else 1
