"""The functions a change touched: what ``--diff BASE`` mutates.

``git diff -U0 BASE`` gives, for every changed file, the lines of the
current file that were added or changed, and the points where lines were
removed; a function is changed when any of them falls inside it (its span
from tree-sitter, as the mutants have it).  A file new since BASE is changed
whole.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harness.errors import ConfigError
from harness.mutate.generate import function_spans

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.M)


def changed_lines(diff_text: str) -> set[int]:
    """Line numbers in the new file that ``diff_text`` (one file's ``-U0``
    diff) adds or changes; a pure removal counts the line after it."""
    lines: set[int] = set()
    for match in _HUNK.finditer(diff_text):
        start, count = int(match.group(1)), int(match.group(2) or 1)
        lines.update(range(start, start + count) if count else (max(start, 1),))
    return lines


def changed_functions(source: bytes, lines: set[int]) -> set[str]:
    """Names of the functions in ``source`` whose span holds one of ``lines``."""
    return {name for name, first, last in function_spans(source)
            if any(first <= n <= last for n in lines)}


def functions_changed_since(base: str, files: list[Path], root: Path) -> dict[str, set[str]]:
    """file (relative to ``root``) -> the names of its functions changed since
    ``base`` (a commit, branch or tag); files with none are left out.  Raises
    ConfigError when git does not know ``base``."""
    check = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"],
                           cwd=root, capture_output=True, text=True)
    if check.returncode != 0:
        raise ConfigError(f"--diff {base}: git knows no such commit in {root}")
    out: dict[str, set[str]] = {}
    for path in files:
        rel = Path(path).resolve().relative_to(root.resolve()).as_posix()
        new = subprocess.run(["git", "cat-file", "-e", f"{base}:{rel}"], cwd=root,
                             capture_output=True).returncode != 0
        source = (root / rel).read_bytes()
        if new:
            names = {name for name, _, _ in function_spans(source)}
        else:
            diff = subprocess.run(["git", "diff", "-U0", base, "--", rel], cwd=root,
                                  capture_output=True, text=True, check=True).stdout
            names = changed_functions(source, changed_lines(diff))
        if names:
            out[rel] = names
    return out
