"""Structured records: ``TAG key=value key="quoted value" ...``.

The firmware writes every event the harness cares about as one such line on
its record channel, COM2, which only the kernel drives (see the README,
"Serial records"); user programs' output arrives there too, but only inside
``OUT`` records the kernel writes.  This module turns lines into
:class:`Record` objects; it knows the grammar, not the meaning of any tag.

Quoted values use the kernel's one escaping rule (its ``%pq`` conversion):
``\\"`` and ``\\\\`` for a quote and a backslash, ``\\xHH`` for every byte below
0x20 or above 0x7E.  A decoded value is a str of code points below 256, one per
byte (:meth:`Record.bytes` gives the bytes back).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TAG = re.compile(r"^([A-Z][A-Z0-9_]*)(?=\s|$)")
_FIELD = re.compile(r'\s+([a-z_][a-z0-9_\-]*)=("(?:[^"\\]|\\.)*"|\S*)')
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)")


@dataclass(frozen=True)
class Record:
    """One parsed record. ``fields`` keeps the values as written (strings),
    quoted ones unquoted and unescaped."""

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

    def bytes(self, key: str) -> bytes:
        """A quoted field as the exact bytes the kernel printed (OUT data)."""
        return self.fields[key].encode("latin-1")


def unescape(quoted: str) -> str:
    """The value inside a quoted field (without its quotes), decoded."""
    def one(m: re.Match) -> str:
        e = m.group(1)
        return chr(int(e[1:], 16)) if len(e) == 3 else e
    return _ESCAPE.sub(one, quoted)


def quote(value: bytes | str) -> str:
    """A value quoted and escaped as the kernel's %pq does it (str: latin-1)."""
    data = value.encode("latin-1") if isinstance(value, str) else value
    out = []
    for b in data:
        if b in b'"\\':
            out.append("\\" + chr(b))
        elif b < 0x20 or b > 0x7E:
            out.append(f"\\x{b:02x}")
        else:
            out.append(chr(b))
    return '"' + "".join(out) + '"'


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
            value = unescape(value[1:-1])
        fields[fm.group(1)] = value
        pos = fm.end()
    return Record(m.group(1), fields, line)


def parse_records(text: str, tag: str | None = None) -> list[Record]:
    """All records in ``text`` (optionally only those with ``tag``), in order.
    Lines end at "\\n" only (and a "\\r" before it)."""
    out = []
    for line in text.split("\n"):
        rec = parse_record(line)
        if rec is not None and (tag is None or rec.tag == tag):
            out.append(rec)
    return out
