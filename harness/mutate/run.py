"""A mutation run from start to end: the test map, the mutants judged under
pytest-xdist (harness/mutate/run_plugin.py), the reviewed equivalents, and
the results file the reports are made from.

Work directory (``build/mutate`` unless told otherwise)::

    testmap.json       functions -> tests, measured (harness/mutate/testmap.py)
    coverage/          the coverage image's build
    pristine/          the unmutated build killers are checked on
    workers/gwN/       each worker's firmware copy, build and last logs
    results.json       the last run's results
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.mutate import equivalents
from harness.mutate.generate import Mutant
from harness.mutate.results import MutantResult, RunResults
from harness.mutate.testmap import ensure_map
from harness.targets.mmverify.build import REPO

DEFAULT_WORK = REPO / "build" / "mutate"
ITEMS = Path(__file__).with_name("mutant_items.py")


@dataclass(frozen=True)
class RunOptions:
    work: Path = DEFAULT_WORK
    workers: int = 2  # local xdist workers, unless ``tx`` names where they run
    tx: tuple[str, ...] = ()  # xdist --tx specs (other hosts through execnet)
    budget_factor: float = 3.0
    rest: str = "unmeasured"  # see TestMap.order
    check_equivalents: bool = False  # run the reviewed equivalents too
    rebuild_map: bool = False
    equivalents: Path = equivalents.EQUIVALENTS  # the reviewed list
    base: str = ""  # the --diff BASE the mutants were chosen by, for the record


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                         text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "firmware"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ("+changes" if dirty else "")


def run_mutants(selected: Sequence[Mutant], options: RunOptions) -> RunResults:
    """Judges ``selected`` (see the module docstring); pytest's progress goes
    to this process's stdout.  Raises HarnessError when some mutant could not
    be judged (its item errored: the run broke, not the mutant)."""
    started = time.monotonic()
    work = options.work
    work.mkdir(parents=True, exist_ok=True)
    reviewed = equivalents.load(options.equivalents)
    skipped = [] if options.check_equivalents else [
        MutantResult.of(m, "equivalent", detail=reviewed[m.signature()])
        for m in selected if m.signature() in reviewed]
    skipped_ids = {r.id for r in skipped}
    to_run = [m.id for m in selected if m.id not in skipped_ids]
    results_file = work / "run-results.json"
    results_file.unlink(missing_ok=True)
    judged: list[MutantResult] = []
    if to_run:  # the map only when there is something to judge (a --diff may select none)
        ensure_map(work, workers=options.workers or 2, rebuild=options.rebuild_map)
        (work / "mutants.json").write_text(json.dumps(to_run))
        spread = [a for spec in options.tx for a in ("--tx", spec)] if options.tx else (
            ["-n", str(options.workers)] if options.workers > 0 else ["-p", "no:xdist"])
        argv = [sys.executable, "-m", "pytest", "-p", "harness.mutate.run_plugin", str(ITEMS),
                "--mutants-file", str(work / "mutants.json"), "--mutate-work", str(work),
                "--mutate-results", str(results_file),
                "--budget-factor", str(options.budget_factor), "--rest", options.rest,
                *spread, *(["--dist", "worksteal"] if "-p" not in spread else []),
                "-q", "-rN", "--tb=no"]
        print("mutate:", shlex.join(argv), flush=True)
        subprocess.run(argv, cwd=REPO, check=False)
        if not results_file.is_file():
            raise HarnessError("the mutation run wrote no results (interrupted?)")
        judged = RunResults.load(results_file).mutants
    missing = sorted(set(to_run) - {r.id for r in judged})
    if missing:
        raise HarnessError(f"{len(missing)} mutants were not judged (their items errored; see "
                           f"the output above): {', '.join(missing[:5])}")
    if options.check_equivalents:
        signature = {m.id: m.signature() for m in selected}
        for r in judged:
            if r.status == "survived" and signature[r.id] in reviewed:
                r.status, r.detail = "equivalent", reviewed[signature[r.id]]
    order = {m.id: i for i, m in enumerate(selected)}
    results = RunResults(mutants=sorted([*judged, *skipped], key=lambda r: order[r.id]),
                         seconds=time.monotonic() - started, commit=_commit(), base=options.base,
                         command=shlex.join(sys.argv))
    results.save(work / "results.json")
    return results
