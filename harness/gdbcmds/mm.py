"""GDB commands for debugging mmverify's memory manager by hand.

Load into any GDB attached to the firmware (``make debug`` does it)::

    source /path/to/repo/harness/gdbcmds/mm.py

then ``mm`` lists the commands: ``mm map``, ``mm vtop``, ``mm pmm``,
``mm heap``, ``mm faults``, ``mm procs``.  They read the machine through GDB
itself (variables and struct fields from the kernel's debug info, page tables
in QEMU's physical-memory mode) and decode it with the harness's pure modules
(harness.decode: paging, pagefault, bitmap), so they need nothing but
GDB's own Python and show what the test suite's harness would see.

Sourcing the file again reloads the command modules (after editing them).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import gdb

# This file is run by GDB's `source`, not imported: find the repository from
# its own path, so that `harness` imports from the same checkout.
_REPO = str(Path(__file__).resolve().parent.parent.parent)
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

_MODULES = ("harness.gdbcmds.common", "harness.gdbcmds.spaces", "harness.gdbcmds.paging_cmds",
            "harness.gdbcmds.pmm_cmds", "harness.gdbcmds.heap_cmds",
            "harness.gdbcmds.proc_cmds")


def _load() -> list:
    """Import (or, when sourced again, reload) the command modules, in order."""
    loaded = []
    for name in _MODULES:
        module = sys.modules.get(name)
        loaded.append(importlib.reload(module) if module else importlib.import_module(name))
    return loaded


class MmCommand(gdb.Command):
    """Inspect mmverify's memory manager: mm SUBCOMMAND [ARGS]

    mm map [CR3|PID]        merged region map of an address space
    mm vtop ADDR [CR3|PID]  one address walked through the page tables
    mm pmm                  physical frames: totals, used and reserved ranges
    mm heap [all]           heap statistics, live blocks and their callers, heap_check()
    mm faults               the kernel's ring buffer of recent page faults
    mm procs                the process table
    mm help                 this list

    "help mm SUBCOMMAND" says more about each one."""

    def __init__(self) -> None:
        super().__init__("mm", gdb.COMMAND_DATA, prefix=True)

    def invoke(self, arg: str, from_tty: bool) -> None:
        # GDB runs the prefix command itself for `mm` alone and for an unknown
        # subcommand (with the words as arg).
        if arg.strip():
            word = arg.split()[0]
            raise gdb.GdbError(f"mm: unknown subcommand {word!r}\n{_usage()}")
        gdb.write(_usage() + "\n")


class HelpCommand(gdb.Command):
    """List the mm subcommands: mm help"""

    def __init__(self) -> None:
        super().__init__("mm help", gdb.COMMAND_DATA)

    def invoke(self, arg: str, from_tty: bool) -> None:
        gdb.write(_usage() + "\n")


def _usage() -> str:
    doc = MmCommand.__doc__ or ""
    return "\n".join(line.removeprefix("    ") for line in doc.splitlines())


def register() -> None:
    MmCommand()
    HelpCommand()
    for module in _load():
        for command in getattr(module, "COMMANDS", ()):
            command()


register()
