"""Addresses of a kernel's functions and objects from its ELF symbol table.

GDB resolves a name through the debug information first, and a partial
clone GCC makes of a function (``f.part.0``: the body of ``f`` past an
early exit that was inlined into its callers) carries ``f``'s name there:
``&f`` in GDB can be the clone, which skips ``f``'s own checks and takes
its arguments in registers.  A harness that calls ``f`` at that address
runs the wrong code.  The symbol table names each entry exactly.
"""

from __future__ import annotations

import functools
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

KINDS = ("STT_FUNC", "STT_OBJECT")


def exact_symbols(path: Path) -> dict[str, int]:
    """name -> address of each function and object of ``path`` whose name
    says which one it is: a global (or weak) symbol, or a local one no other
    symbol of that name shares (two files' static ``count``s are left to the
    caller, who must say which file)."""
    stat = path.stat()
    return dict(_read(str(path), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, int], ...]:
    globals_: dict[str, int] = {}
    locals_: dict[str, list[int]] = {}
    with open(path, "rb") as f:
        for section in ELFFile(f).iter_sections():
            if not isinstance(section, SymbolTableSection):
                continue
            for sym in section.iter_symbols():
                if sym["st_info"]["type"] not in KINDS or not sym.name or not sym["st_value"]:
                    continue
                if sym["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK"):
                    globals_[sym.name] = sym["st_value"]
                else:
                    locals_.setdefault(sym.name, []).append(sym["st_value"])
    unique = {name: addrs[0] for name, addrs in locals_.items()
              if len(set(addrs)) == 1 and name not in globals_}
    return tuple({**unique, **globals_}.items())
