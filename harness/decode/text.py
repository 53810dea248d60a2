"""Plain-text tables for people: `make demo` and the `mm` GDB commands.
Pure Python, importable inside GDB."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: list[str], rows: Sequence[Sequence[object]],
          left: tuple[int, ...] = ()) -> str:
    """Aligned columns: numbers right-aligned, the columns in ``left`` left-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: list[str]) -> str:
        out = [
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), *(line(r) for r in cells)])
