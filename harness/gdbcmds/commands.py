"""The ``mm`` prefix command, ``mm help``, and the registration of every
subcommand module; harness/gdbcmds/mm.py (what a person sources) imports
this and calls :func:`register`."""

from __future__ import annotations

import importlib
import sys

import gdb

_MODULES = ("harness.gdbcmds.common", "harness.gdbcmds.spaces", "harness.gdbcmds.paging_cmds",
            "harness.gdbcmds.pmm_cmds", "harness.gdbcmds.frame_cmds", "harness.gdbcmds.heap_cmds",
            "harness.gdbcmds.proc_cmds", "harness.gdbcmds.pagecache_cmds",
            "harness.gdbcmds.cache_cmds",
            "harness.gdbcmds.settings_cmds", "harness.gdbcmds.swap_cmds",
            "harness.gdbcmds.pool_cmds", "harness.gdbcmds.balloon_cmds",
            "harness.gdbcmds.cpu_cmds")


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
    mm pt [CR3|PID] [RANGE] the raw entries: PDEs, PTEs, flags, 4 MiB pages
    mm pmm [all]            physical frames: totals, used and reserved ranges
    mm frame PA             who holds a frame: its PTEs, refs, kernel references, cross-checked
    mm heap [all]           heap statistics, live blocks and their callers, heap_check()
    mm faults               the kernel's ring buffer of recent page faults
    mm procs                the process table
    mm cache [buffers]      the buffer cache and the page cache: totals, hit rates, cached blocks
    mm pagecache            the page cache alone: counters, hit rate, cached pages and their frames
    mm swap                 swap slots, the compressed pool, which PTEs name which slots, audited
    mm pools                memory pools and their reserves (audited), the heap's quick-fit lists
    mm balloon              the virtio balloon: target, frames held, queues, audited
    mm cpus                 every vCPU: halted or running, EIP, CR3, paging mode
    mm set [NAME VALUE]     change a setting (kernel-base); mm show lists them
    mm help                 this list

    map, vtop and pt work on any i386 kernel behind QEMU's gdbstub, with or
    without symbols, given a CR3 (or $cr3); pids, labels and the other
    commands need this firmware's symbols.
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
