"""The mutation run as HTML a person reads in a browser, in the manner of PIT
and Stryker: ``index.html`` (the summary, the score per file and per
function) and one page per source file, every line numbered and each line
with mutants marked by its worst outcome, its mutants listed under it.

Pages are self-contained (the CSS is inline, there is no script), so the
directory can be opened from disk or kept as a CI artifact.  Every line with
mutants carries ``data-status`` (one of ``LINE_STATUSES``) and ``data-line``
so a test can count the marks from the DOM a browser built; every text that
comes from the run or the source is HTML-escaped.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from harness.mutate.report_text import score_text, summary_text
from harness.mutate.results import MutantResult, RunResults, score_by
from harness.targets.mmverify.build import REPO

# Worst first: a line is marked by the first of these any of its mutants has.
# A survivor nothing reached is "not-covered" (the tests never ran the code),
# a timeout is killed (listed apart in the text report), and an equivalent
# only outranks a mutant that never compiled.
LINE_STATUSES = ("not-covered", "survived", "killed", "equivalent", "stillborn")

LEGEND = {
    "killed": "killed: a test failed (or timed out) on every scored mutant of the line",
    "survived": "survived: every test that reached the code passed",
    "not-covered": "not covered: a survivor no test reached",
    "equivalent": "equivalent: reviewed, no observable change (not scored)",
    "stillborn": "stillborn: no mutant of the line compiled (not scored)",
}

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { padding: 0.15em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
table.scores tr:nth-child(even) { background: #f4f4f4; }
table.source td { text-align: left; padding: 0 0.5em; vertical-align: top; }
table.source td.n { text-align: right; color: #888; user-select: none; }
table.source pre { margin: 0; }
table.source tr.mutants td { padding: 0.2em 0.5em 0.4em 3em; font-size: 90%; }
pre { font-family: monospace; white-space: pre; }
pre.diff { background: #fafafa; border: 1px solid #ddd; padding: 0.4em; }
.legend span { display: inline-block; padding: 0.1em 0.5em; margin-right: 0.5em; }
[data-status="killed"], .legend .killed { background: #c6efc6; }
[data-status="survived"], .legend .survived { background: #ffb0b0; }
[data-status="not-covered"], .legend .not-covered { background: #f3e3e3; color: #666; }
[data-status="equivalent"], .legend .equivalent { background: #e2ecf8; }
[data-status="stillborn"], .legend .stillborn { background: #e8e8e8; color: #666; }
li.mutant { list-style: none; margin: 0.1em 0; }
"""


def line_status(mutants: list[MutantResult]) -> str:
    """The mark of a line with these mutants: the worst of their outcomes."""
    have = set()
    for m in mutants:
        if m.status == "survived":
            have.add("survived" if m.covered else "not-covered")
        else:
            have.add("killed" if m.status == "timeout" else m.status)
    return next(s for s in LINE_STATUSES if s in have)


def page_name(file: str) -> str:
    """The page of a source file: its path flattened into one safe file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", file) + ".html"


def _page(title: str, body: list[str]) -> str:
    return "\n".join(["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                      f"<title>{escape(title)}</title>", f"<style>{STYLE}</style>",
                      "</head><body>", *body, "</body></html>", ""])


def _legend() -> str:
    return ('<p class="legend">' + "".join(f'<span class="{s}">{escape(text)}</span>'
                                           for s, text in LEGEND.items()) + "</p>")


def _scores(title: str, rows: dict[str, dict[str, object]], links: dict[str, str]) -> list[str]:
    columns = ("mutants", "killed", "timeouts", "survived", "stillborn", "equivalent")
    out = [f'<table class="scores" data-table="{title}">',
           f"<tr><th>{title}</th>" + "".join(f"<th>{c}</th>" for c in columns)
           + "<th>score</th></tr>"]
    for name, s in rows.items():
        link = f'<a href="{escape(links[name])}">{escape(name)}</a>'
        out.append(f'<tr data-name="{escape(name)}"><td>{link}</td>'
                   + "".join(f'<td class="{c}">{s[c]}</td>' for c in columns)
                   + f'<td class="score">{score_text(s)}</td></tr>')
    return [*out, "</table>"]


def _mutant_item(m: MutantResult) -> str:
    status = "not-covered" if m.status == "survived" and not m.covered else m.status
    why = "; ".join(filter(None, [m.killed_by and f"killed by {m.killed_by}", m.detail]))
    item = (f'<li class="mutant" data-id="{escape(m.id)}" data-mutant-status="{status}">'
            f"<code>{escape(m.id)}</code> {escape(m.operator)}: {escape(m.description)}: "
            f"<b>{status.replace('-', ' ')}</b>" + (f" ({escape(why)})" if why else ""))
    if m.status == "survived":
        item += ('<details><summary>diff</summary>'
                 f'<pre class="diff">{escape(m.diff)}</pre></details>')
    return item + "</li>"


def _mutant_list(mutants: list[MutantResult], open_: bool) -> str:
    counts: dict[str, int] = {}
    for m in mutants:
        counts[m.status] = counts.get(m.status, 0) + 1
    said = ", ".join(f"{n} {s}" for s, n in counts.items())
    noun = "mutant" if len(mutants) == 1 else "mutants"
    return (f"<details{' open' if open_ else ''}><summary>{len(mutants)} {noun}: {said}"
            "</summary><ul>" + "".join(map(_mutant_item, mutants)) + "</ul></details>")


def _file_page(file: str, mutants: list[MutantResult], summary: dict[str, object],
               root: Path) -> str:
    path = root / file
    source = path.read_text(errors="replace").splitlines() if path.is_file() else []
    by_line: dict[int, list[MutantResult]] = {}
    for m in sorted(mutants, key=lambda m: (m.line, m.col, m.id)):
        by_line.setdefault(m.line, []).append(m)
    body = [f"<h1>{escape(file)}</h1>", '<p><a href="index.html">index</a></p>',
            f'<p class="summary">score {score_text(summary)}: {summary["mutants"]} mutants, '
            f"{summary['killed']} killed ({summary['timeouts']} by timeout), "
            f"{summary['survived']} survived, {summary['stillborn']} stillborn, "
            f"{summary['equivalent']} equivalent</p>", _legend()]
    # A results file older than the source may name lines it no longer has.
    lost = [m for n, ms in by_line.items() if not 1 <= n <= len(source) for m in ms]
    if lost:
        why = ("mutants on lines the source no longer has:" if source
               else f"{file} was not found; its mutants:")
        body += [f'<p class="lost">{escape(why)}</p>', _mutant_list(lost, True)]
    body.append('<table class="source">')
    for n, text in enumerate(source, 1):
        here = by_line.get(n)
        if not here:
            body.append(f'<tr class="line" id="L{n}"><td class="n">{n}</td><td></td>'
                        f"<td><pre>{escape(text)}</pre></td></tr>")
            continue
        status = line_status(here)
        body.append(f'<tr class="line" id="L{n}" data-line="{n}" data-status="{status}">'
                    f'<td class="n">{n}</td><td class="count">{len(here)}</td>'
                    f"<td><pre>{escape(text)}</pre></td></tr>")
        body.append(f'<tr class="mutants" data-line="{n}"><td></td><td></td><td>'
                    + _mutant_list(here, status in ("survived", "not-covered")) + "</td></tr>")
    body.append("</table>")
    return _page(f"mutants of {file}", body)


def _survivors(results: RunResults, pages: dict[str, str]) -> list[str]:
    """The index's list of survivors, each linked to its line."""
    survivors = sorted((m for m in results.mutants if m.status == "survived"),
                       key=lambda m: (m.file, m.line, m.col, m.id))
    items = [f'<li data-id="{escape(m.id)}"><a href="{escape(pages[m.file])}#L{m.line}">'
             f"<code>{escape(m.id)}</code></a> {escape(m.function)}: {escape(m.description)}"
             + ("" if m.covered else " (not covered)") + "</li>" for m in survivors]
    return [f"<h2>Survivors ({len(survivors)})</h2>", '<ul class="survivors">', *items, "</ul>"]


def write_html(results: RunResults, out_dir: Path, root: Path = REPO) -> Path:
    """Write the report into ``out_dir`` (source files read from ``root``);
    return the path of its index.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = score_by(results, "file")
    functions = score_by(results, "function")
    pages = {file: page_name(file) for file in files}
    if len({*pages.values(), "index.html"}) != len(pages) + 1:
        raise ValueError("two source files (or one and the index) flatten to one page name: "
                         + ", ".join(sorted(pages)))
    # A function links to its first mutated line on its file's page.
    first_line: dict[str, int] = {}
    for m in results.mutants:
        key = f"{m.file}:{m.function}"
        first_line[key] = min(first_line.get(key, m.line), m.line)
    function_links = {key: f"{pages[key.rsplit(':', 1)[0]]}#L{line}"
                      for key, line in first_line.items()}

    for file, summary in files.items():
        mine = [m for m in results.mutants if m.file == file]
        (out_dir / pages[file]).write_text(_file_page(file, mine, summary, root))

    about = " ".join(f"{k} {v}" for k, v in (("commit", results.commit), ("base", results.base),
                                                ("command", results.command)) if v)
    body = ["<h1>Mutation testing</h1>",
            f'<p class="summary">{escape(summary_text(results))}</p>',
            *([f'<p class="about">{escape(about)}</p>'] if about else []),
            _legend(), "<h2>Files</h2>", *_scores("file", files, pages),
            "<h2>Functions</h2>", *_scores("function", functions, function_links),
            *_survivors(results, pages)]
    index = out_dir / "index.html"
    index.write_text(_page("mutation testing", body))
    return index
