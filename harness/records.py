"""Structured serial records: ``TAG key=value key="quoted value" ...``.

The firmware writes every event the harness cares about as one such line on
COM1 (see the README, "Serial records").  This module turns lines into
:class:`Record` objects; it knows the grammar, not the meaning of any tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TAG = re.compile(r"^([A-Z][A-Z0-9_]*)(?=\s|$)")
_FIELD = re.compile(r'\s+([a-z_][a-z0-9_\-]*)=("(?:[^"\\]|\\.)*"|\S*)')


@dataclass(frozen=True)
class Record:
    """One parsed record. ``fields`` keeps the values as written (strings)."""

    tag: str
    fields: dict[str, str] = field(default_factory=dict)
    line: str = ""

    def __getitem__(self, key: str) -> str:
        return self.fields[key]

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key, default)

    def int(self, key: str) -> int:
        """A numeric field (decimal or 0x-hex) as an int; KeyError if absent."""
        return int(self.fields[key], 0)


def parse_record(line: str) -> Record | None:
    """Parse one line; None if it is not a record (free text, partial line)."""
    line = line.rstrip("\r\n")
    m = _TAG.match(line)
    if not m:
        return None
    fields: dict[str, str] = {}
    pos = m.end()
    for fm in _FIELD.finditer(line, pos):
        if fm.start() != pos:
            break  # free text after the fields: keep what parsed so far
        value = fm.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        fields[fm.group(1)] = value
        pos = fm.end()
    return Record(m.group(1), fields, line)


def parse_records(text: str, tag: str | None = None) -> list[Record]:
    """All records in ``text`` (optionally only those with ``tag``), in order."""
    out = []
    for line in text.splitlines():
        rec = parse_record(line)
        if rec is not None and (tag is None or rec.tag == tag):
            out.append(rec)
    return out
