"""``python -m harness mutate``: list, show, apply and build mutants."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.mutate.generate import OPERATORS, Mutant, find, mutants, sample, unparsed
from harness.mutate.sandbox import REPO, apply, build_mutant, default_files


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
    p.add_argument("--files", help="comma-separated C files (default: firmware/mm/*.c and "
                                   "kernel/syscall.c, proc.c, trap.c)")
    p.add_argument("--function", help="only mutants in this function")
    p.add_argument("--operator", help="only mutants of these operators (comma-separated)")
    p.add_argument("--sample", type=int, metavar="N", help="N mutants picked with --seed")
    p.add_argument("--seed", type=int, default=0, help="seed for --sample (default 0)")
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
    if args.sample is not None:
        found = sample(found, args.sample, args.seed)
    return found


def _files_for_id(mutant_id: str) -> str:
    return mutant_id.split(":", 1)[0]  # ids start with their file


def main(argv: list[str]) -> int:
    if argv[:1] == ["python"]:  # mutmut on harness/decode/, not the firmware's C
        from harness.mutate.python_decode import main as python_main
        return python_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.sample is not None and args.sample < 0:
        parser.error("--sample needs N >= 0")
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
