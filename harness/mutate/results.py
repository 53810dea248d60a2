"""What a mutation run found: one record per mutant, the run's summary line,
and the file both are kept in (``build/mutate/results.json``), which the HTML
report and ``--diff`` runs read back.

Statuses
    killed       a test failed on the mutant (``killed_by`` names it)
    timeout      the mutant's test run overran its budget: counted as killed,
                 listed apart, because a suite that hangs instead of failing
                 is a defect of its own
    survived     every test that was run passed
    stillborn    the mutant does not compile (not counted in the score)
    equivalent   survived, and listed in the reviewed equivalents file with a
                 reason (not counted in the score)

``covered`` says whether any test reached the mutated function in the
coverage run; a survivor nothing reaches is "not covered" in the report.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.mutate.generate import Mutant

STATUSES = ("killed", "timeout", "survived", "stillborn", "equivalent")


@dataclass
class MutantResult:
    id: str
    file: str
    function: str
    line: int
    col: int
    operator: str
    description: str
    diff: str
    status: str
    covered: bool = True
    killed_by: str = ""  # the failing test's node id
    detail: str = ""  # why: the failure's first line, gcc's error, the timeout, the reason
    tests_run: int = 0
    seconds: float = 0.0

    @classmethod
    def of(cls, mutant: Mutant, status: str, **fields: object) -> MutantResult:
        """The record of ``mutant`` (its id, place, description and diff)."""
        return cls(id=mutant.id, file=mutant.file, function=mutant.function, line=mutant.line,
                   col=mutant.col, operator=mutant.operator, description=mutant.description,
                   diff=mutant.diff(), status=status, **fields)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"{self.id}: unknown status {self.status!r} (one of {STATUSES})")


@dataclass
class RunResults:
    mutants: list[MutantResult] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the whole run
    commit: str = ""  # the source the mutants were made from
    base: str = ""  # --diff BASE, if the run was one
    command: str = ""

    def summary(self) -> dict[str, object]:
        """The run's JSON line.  ``killed`` includes the timeouts, which
        ``timeouts`` also counts; the score is killed over every mutant that
        compiled and is not a reviewed equivalent."""
        count = {s: sum(1 for m in self.mutants if m.status == s) for s in STATUSES}
        killed = count["killed"] + count["timeout"]
        scored = killed + count["survived"]
        return {"mutants": len(self.mutants), "killed": killed,
                "stillborn": count["stillborn"], "survived": count["survived"],
                "timeouts": count["timeout"], "equivalent": count["equivalent"],
                "score": round(killed / scored, 4) if scored else 1.0,
                "seconds": round(self.seconds, 1)}

    def updated(self, again: RunResults) -> RunResults:
        """These results with the mutants ``again`` judged anew replaced by
        their new verdicts, in this run's order; the time is both runs'."""
        new = {m.id: m for m in again.mutants}
        return RunResults(mutants=[new.get(m.id, m) for m in self.mutants],
                          seconds=self.seconds + again.seconds, commit=again.commit,
                          base=self.base, command=self.command)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> RunResults:
        data = json.loads(Path(path).read_text())
        mutants = [MutantResult(**m) for m in data.pop("mutants")]
        return cls(mutants=mutants, **data)


def score_by(results: RunResults, key: str) -> dict[str, dict[str, object]]:
    """The summary per ``key`` ("file" or "function"; functions as FILE:NAME)."""
    groups: dict[str, list[MutantResult]] = {}
    for m in results.mutants:
        name = m.file if key == "file" else f"{m.file}:{m.function}"
        groups.setdefault(name, []).append(m)
    return {name: RunResults(mutants=ms, seconds=sum(m.seconds for m in ms)).summary()
            for name, ms in sorted(groups.items())}
