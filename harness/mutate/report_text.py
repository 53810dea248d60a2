"""The mutation run as text, for a terminal or a CI log: the summary, the
score per file and per function, every timeout, every survivor with its diff,
and the reviewed equivalents with their reasons.

The columns are the summary line's (``RunResults.summary``): ``killed``
includes the timeouts, which ``timeouts`` counts again; the score is killed
over killed plus survived, and is "-" where nothing counts (only stillborn or
equivalent mutants), rather than the summary's 1.0, which would read as "all
killed".
"""

from __future__ import annotations

from harness.mutate.results import MutantResult, RunResults, score_by

COLUMNS = ("mutants", "killed", "timeouts", "survived", "stillborn", "equivalent")


def score_text(summary: dict[str, object]) -> str:
    """The score as the reports show it: three decimals, or "-" with nothing scored."""
    killed, survived, score = summary["killed"], summary["survived"], summary["score"]
    assert isinstance(killed, int) and isinstance(survived, int) and isinstance(score, float)
    return f"{score:.3f}" if killed + survived else "-"


def summary_text(results: RunResults) -> str:
    """One sentence: the score and the counts behind it."""
    s = results.summary()
    return (f"score {score_text(s)}: {s['mutants']} mutants, {s['killed']} killed "
            f"({s['timeouts']} by timeout), {s['survived']} survived, "
            f"{s['stillborn']} stillborn, {s['equivalent']} equivalent, {s['seconds']} s")


def _table(title: str, rows: dict[str, dict[str, object]]) -> list[str]:
    width = max([len(title), *map(len, rows)])
    head = f"{title:<{width}}" + "".join(f"  {c}" for c in COLUMNS) + "  score"
    lines = [head]
    for name, s in rows.items():
        lines.append(f"{name:<{width}}" + "".join(f"  {s[c]!s:>{len(c)}}" for c in COLUMNS)
                     + f"  {score_text(s):>5}")
    return lines


def _in_source_order(mutants: list[MutantResult]) -> list[MutantResult]:
    return sorted(mutants, key=lambda m: (m.file, m.line, m.col, m.id))


def text_report(results: RunResults) -> str:
    out = ["mutation " + summary_text(results)]
    if results.commit or results.base or results.command:
        out.append(" ".join(f"{k} {v}" for k, v in (("commit", results.commit),
                                                       ("base", results.base),
                                                       ("command", results.command)) if v))
    out += ["", *_table("file", score_by(results, "file")),
            "", *_table("function", score_by(results, "function"))]

    timeouts = _in_source_order([m for m in results.mutants if m.status == "timeout"])
    if timeouts:
        # Counted as killed, but a suite that hangs rather than fails is a defect.
        out += ["", f"timeouts ({len(timeouts)}): the tests hung instead of failing"]
        out += [f"  {m.id}  {m.function}: {m.description}"
                + (f"  [{m.detail}]" if m.detail else "") for m in timeouts]

    survivors = _in_source_order([m for m in results.mutants if m.status == "survived"])
    out += ["", f"survivors ({len(survivors)})"]
    for m in survivors:
        out.append(f"{m.id}  {m.function}: {m.description}"
                   + ("" if m.covered else " (not covered)"))
        out += ["    " + line for line in m.diff.splitlines()]

    equivalents = _in_source_order([m for m in results.mutants if m.status == "equivalent"])
    if equivalents:
        out += ["", f"equivalent ({len(equivalents)}, not scored)"]
        out += [f"  {m.id}  {m.function}: {m.description}"
                + (f"  [{m.detail}]" if m.detail else "") for m in equivalents]
    return "\n".join(out) + "\n"
