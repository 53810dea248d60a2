"""GDB/MI text: the hot result shapes parsed fast, GDB values as integers, MI
string quoting (pure: no I/O, standard library only)."""

from __future__ import annotations

import re
from typing import Any

# The two result shapes on the hot path (memory reads, expression values), in
# the exact form GDB prints them without escapes.  Anything else, or anything
# with a backslash in it, goes to pygdbmi's general parser; a differential test
# holds the two to the same output.
_SIMPLE_RESULT = re.compile(r'^(\d*)\^(done|running)(?:,value="([^"\\]*)")?$')
_MEMORY_RESULT = re.compile(r'^(\d*)\^done,memory=\[((?:\{begin="0x[0-9a-f]+",'
                            r'offset="0x[0-9a-f]+",end="0x[0-9a-f]+",contents="[0-9a-f]*"\},?)+)\]$')
_MEMORY_CHUNK = re.compile(r'\{begin="(0x[0-9a-f]+)",offset="(0x[0-9a-f]+)",'
                           r'end="(0x[0-9a-f]+)",contents="([0-9a-f]*)"\}')


def parse_simple_result(line: str) -> dict[str, Any] | None:
    """Parse the common result records quickly, in pygdbmi's output format;
    None when the line is not one of those shapes."""
    m = _SIMPLE_RESULT.match(line)
    if m:
        payload = None if m.group(3) is None else {"value": m.group(3)}
        return {"type": "result", "message": m.group(2), "payload": payload,
                "token": int(m.group(1)) if m.group(1) else None}
    m = _MEMORY_RESULT.match(line)
    if m:
        chunks = [{"begin": b, "offset": o, "end": e, "contents": c}
                  for b, o, e, c in _MEMORY_CHUNK.findall(m.group(2))]
        return {"type": "result", "message": "done", "payload": {"memory": chunks},
                "token": int(m.group(1)) if m.group(1) else None}
    return None


_VALUE_NUMBER = re.compile(r"^(?:\([^)]*\)\s*)?(-?(?:0x[0-9a-fA-F]+|\d+))")


def parse_gdb_int(value: str) -> int:
    """An integer from a GDB value: "5", "-3", "0xc0100000", "(void *) 0x1000",
    "0xc0101234 <kmain+4>", "65 'A'", "true".  Raises ValueError for a value
    that is not a number."""
    value = value.strip()
    if value in ("true", "false"):
        return int(value == "true")
    m = _VALUE_NUMBER.match(value)
    if not m:
        raise ValueError(f"not an integer value: {value!r}")
    return int(m.group(1), 0)


def mi_quote(text: str) -> str:
    """Quote a string as an MI c-string argument."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
