"""Which kernel functions a test reached, read from a coverage image.

A coverage build (``cmake -DMMV_COVERAGE=ON``, firmware/kernel/coverage.c)
sets one bit per byte of kernel text at the entry address of every function
that runs.  ``FunctionIndex`` names those addresses from the ELF's symbol
table; ``reached`` turns the bitmap read from guest RAM into function keys.

A key is ``FILE.c:NAME`` for a static function (a clone GCC made of it,
``NAME.part.0`` or ``NAME.constprop.0``, counts as the function) (the symbol table's file
entries give only base names; the firmware's are unique) and ``NAME`` for a
global one, which the linker already makes unique.  ``key_for`` gives the key
a mutant's (file, function) has.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from harness.errors import ConfigError

BITMAP_SYMBOL = "harness_coverage"
TEXT_START = "__text_start"


@dataclass(frozen=True)
class FunctionIndex:
    text_start: int
    bitmap: int  # virtual address of the coverage bitmap
    bitmap_size: int
    by_address: dict[int, str]  # function entry -> key
    keys: frozenset[str]

    def key_for(self, file: str, function: str) -> str:
        return key_for(self.keys, file, function)


def key_for(keys: Collection[str], file: str, function: str) -> str:
    """The key of ``function`` defined in ``file`` (a path), among ``keys``:
    the static one of that file if there is one, else the global name."""
    local = f"{PurePosixPath(file).name}:{function}"
    return local if local in keys else function


@functools.cache
def _index(path: Path, mtime_ns: int) -> FunctionIndex:
    with open(path, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise ConfigError(f"{path} has no symbol table")
        by_address: dict[int, str] = {}
        where: dict[str, tuple[int, int]] = {}
        source = ""
        for sym in symtab.iter_symbols():
            kind, bind = sym["st_info"]["type"], sym["st_info"]["bind"]
            if kind == "STT_FILE":
                source = sym.name
            elif kind == "STT_FUNC" and sym["st_value"]:
                # GCC's clones (get_page_table.part.0, .constprop.0, .isra.0,
                # .cold) are the function they were cut from
                name = sym.name.split(".", 1)[0]
                key = f"{source}:{name}" if bind == "STB_LOCAL" else name
                by_address.setdefault(sym["st_value"], key)
            elif sym.name in (BITMAP_SYMBOL, TEXT_START):
                where[sym.name] = (sym["st_value"], sym["st_size"])
    if BITMAP_SYMBOL not in where:
        raise ConfigError(f"{path} is not a coverage image (no {BITMAP_SYMBOL}): build it "
                          "with cmake -DMMV_COVERAGE=ON")
    text_start = where[TEXT_START][0]
    bitmap, size = where[BITMAP_SYMBOL]
    if max(by_address) - text_start >= size * 8:
        raise ConfigError(f"{path}: kernel text outgrew the coverage bitmap "
                          f"({size * 8} bytes); enlarge harness_coverage in kernel/coverage.c")
    return FunctionIndex(text_start, bitmap, size, by_address, frozenset(by_address.values()))


def function_index(kernel: Path) -> FunctionIndex:
    path = Path(kernel)
    return _index(path, path.stat().st_mtime_ns)


def reached(bits: bytes, index: FunctionIndex) -> set[str]:
    """The keys of the functions whose entry bit is set in ``bits``."""
    out = set()
    for byte_offset, byte in enumerate(bits):
        while byte:
            low = byte & -byte
            key = index.by_address.get(index.text_start + byte_offset * 8 + low.bit_length() - 1)
            if key is not None:
                out.add(key)
            byte ^= low
    return out
