"""Constants the harness shares with the firmware, read from kernel.elf.

The firmware exports each one as ``harness_const_NAME``
(firmware/kernel/harness_constants.c, from the headers that define them), so
the harness keeps no copy that could drift from the C code."""

from __future__ import annotations

import functools
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from harness.errors import ConfigError

PREFIX = "harness_const_"


@functools.cache
def _read(path: Path, mtime_ns: int) -> dict[str, int]:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise ConfigError(f"{path} has no symbol table: build the firmware with its "
                              "debug info (python -m harness build)")
        out = {}
        for sym in symtab.iter_symbols():
            if not sym.name.startswith(PREFIX):
                continue
            section = elf.get_section(sym["st_shndx"])
            offset = sym["st_value"] - section["sh_addr"]
            out[sym.name.removeprefix(PREFIX)] = int.from_bytes(
                section.data()[offset:offset + 4], "little")
        return out


def firmware_constants(kernel: Path) -> dict[str, int]:
    """NAME -> value for every constant the firmware in ``kernel`` exports.
    Raises ConfigError when the file has no symbol table."""
    path = Path(kernel)
    return _read(path, path.stat().st_mtime_ns)
