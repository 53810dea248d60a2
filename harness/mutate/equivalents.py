"""The reviewed list of equivalent mutants (harness/mutate/equivalent_firmware.txt).

An equivalent mutant changes nothing any test could observe, so no test can
kill it; it is listed with the reason a person found, and left out of the
score, never dropped silently.  Entries are kept by the mutant's signature
(file, function, operator, the line before and after: see
``Mutant.signature``), which survives edits elsewhere in the file; an entry
that matches no mutant any more is reported as stale.

Format: one entry per line, ``SIGNATURE  # REASON``; blank lines and lines
starting with ``#`` are comments.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.errors import ConfigError
from harness.mutate.generate import Mutant

EQUIVALENTS = Path(__file__).with_name("equivalent_firmware.txt")
_SEPARATOR = "  # "


def parse(text: str, origin: str = "equivalents") -> dict[str, str]:
    """signature -> reason.  Raises ConfigError for an entry without a reason."""
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        signature, sep, reason = line.rpartition(_SEPARATOR)
        if not sep or not reason.strip() or not signature.strip():
            raise ConfigError(f"{origin}:{number}: an entry is `SIGNATURE  # REASON`: {line!r}")
        out[signature.strip()] = reason.strip()
    return out


def load(path: Path = EQUIVALENTS) -> dict[str, str]:
    return parse(path.read_text(), str(path)) if path.is_file() else {}


def stale(entries: dict[str, str], every_mutant: Iterable[Mutant]) -> list[str]:
    """The entries no mutant has the signature of any more."""
    live = {m.signature() for m in every_mutant}
    return sorted(set(entries) - live)
