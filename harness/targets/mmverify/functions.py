"""Which kernel function an address is in, read from kernel.elf on the host.

The kernel's LOCK records (firmware/include/kernel/lockdep.h) give lock
sites as bare addresses (``caller=0x...``, ``holder_caller=0x...``); a test
names them by the function whose code holds them, from the ELF's symbol
table, without asking the guest or GDB.  A site inside an inlined function
(spin_lock is inline) is in the function it was inlined into."""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from harness.decode.records import Record
from harness.errors import ConfigError


@dataclass(frozen=True)
class FunctionTable:
    """(start, size, name) of every function, by start address."""

    spans: tuple[tuple[int, int, str], ...]

    @classmethod
    def of(cls, spans: list[tuple[int, int, str]]) -> FunctionTable:
        return cls(tuple(sorted(spans)))

    def name_at(self, address: int) -> str | None:
        """The function whose code holds ``address``; None outside every one."""
        at = bisect.bisect_right(self.spans, (address, float("inf"), "")) - 1
        if at < 0:
            return None
        start, size, name = self.spans[at]
        return name if start <= address < start + size else None


@functools.cache
def _read(path: Path, mtime_ns: int) -> FunctionTable:
    with open(path, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise ConfigError(f"{path} has no symbol table: build the firmware with its "
                              "debug info (python -m harness build)")
        return FunctionTable.of([(s["st_value"], s["st_size"], s.name)
                                 for s in symtab.iter_symbols()
                                 if s["st_info"]["type"] == "STT_FUNC" and s["st_size"]])


def function_table(kernel: Path) -> FunctionTable:
    """The functions of ``kernel`` (an ELF path), read once per build."""
    path = Path(kernel)
    return _read(path, path.stat().st_mtime_ns)


def caller_functions(record: Record, table: FunctionTable) -> dict[str, str | None]:
    """Every ``*caller`` field of a record (a LOCK record's lock sites) named
    by its function: {"caller": "inversion_cpu1", "earlier_caller": ...}."""
    return {key: table.name_at(int(value, 16)) for key, value in record.fields.items()
            if key.endswith("caller")}
