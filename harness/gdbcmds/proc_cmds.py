"""``mm procs`` and ``mm faults``: the process table and the page-fault ring
buffer, the two places where the kernel keeps what happened to user memory.

Field names come from the kernel's debug info (struct process, struct
fault_record) and state/kind/action/reason names from its enums, so the
output follows the C code; faults are decoded with harness.machine.faults, as the
tests decode them.
"""

from __future__ import annotations

from harness.decode.pagefault import PageFault
from harness.decode.text import table
from harness.gdbcmds.common import (
    CommandError,
    Subcommand,
    count_of,
    enum_names,
    symbolize,
    u32,
    value,
    write,
)
from harness.gdbcmds.spaces import processes


def _range(lo: int, hi: int) -> str:
    return f"{lo:#010x}..{hi:#010x}"


class ProcsCommand(Subcommand):
    """Show the process table: mm procs

    Every entry of proc_table that is not free: pid, state (ready, running,
    blocked, zombie), name, the cr3 of its address space (give the pid to
    "mm map" to see it), its heap [heap_base, brk), its stack
    [stack_limit, stack_top) (the page below the limit is the guard page),
    where shared memory is attached, the user pages it has mapped and the
    demand-paging faults it took.  The current process (the kernel variable
    `current`) is marked with '*'; with none current, the kernel runs as pid 0."""

    name = "procs"
    usage = "mm procs"

    def run(self, argv: list[str]) -> None:
        if argv:
            raise CommandError("mm procs takes no arguments")
        states = enum_names("proc_state", "PROC_")
        current = u32("current->pid") if u32("current") else None
        procs = processes()
        rows = [["*" if p["pid"] == current else "", str(p["pid"]),
                 states.get(p["state"], str(p["state"])), p["name"], f"{p['cr3']:#010x}",
                 _range(p["heap_base"], p["brk"]), _range(p["stack_limit"], p["stack_top"]),
                 f"{p['shm_base']:#010x}", str(p["pages"]), str(p["demand_faults"])]
                for p in procs]
        size = count_of("proc_table")
        write(f"processes: {len(procs)} of {size} slots in use; current: "
              + (f"pid {current}" if current is not None else "none (the kernel, pid 0)")
              + f"; {u32('proc_finished')} finished since boot")
        if rows:
            write(table(["", "pid", "state", "name", "cr3", "heap", "stack", "shm", "pages",
                         "faults"], rows, left=(0, 2, 3, 4, 5, 6, 7)))


class FaultsCommand(Subcommand):
    """Show the recent page faults: mm faults

    The kernel's ring buffer fault_log, oldest first: entry i holds fault
    number seq with seq % size == i, and only the last `size` faults before
    fault_stats.total are valid.  Each fault: its number, the pid that took it
    (0: the kernel), what the kernel did (resolved by demand paging, fixed up
    for a probe or copy_*_user, killed the process, panic) and why, the fault
    as the CPU reported it (address, error code bits, kind, mode, access,
    eip, decoded by harness.machine.faults.PageFault) and where eip is.  Above them:
    fault_stats, the counts since boot."""

    name = "faults"
    usage = "mm faults"

    def run(self, argv: list[str]) -> None:
        if argv:
            raise CommandError("mm faults takes no arguments")
        kinds = enum_names("fault_kind", "FAULT_")
        actions = enum_names("fault_action", "FAULT_")
        reasons = enum_names("fault_reason", "REASON_")
        stats = value("fault_stats")
        total = u32(stats["total"])

        def counted(field: str, names: dict[int, str]) -> str:
            return ", ".join(f"{names[i]} {u32(stats[field][i])}"
                             for i in range(count_of(f"fault_stats.{field}")))

        size = count_of("fault_log")
        write(f"page faults since boot: {total} ({counted('by_kind', kinds)}; "
              f"{counted('by_action', actions)}; user {u32(stats['user'])}, "
              f"kernel {u32(stats['kernel'])}); fault_log keeps the last {size}")
        log = value("fault_log")
        entries = []
        for i in range(size):
            e = {f: u32(log[i][f]) for f in ("seq", "addr", "err", "eip", "pid", "kind",
                                                 "action", "reason")}
            if e["seq"] % size == i and total - size <= e["seq"] < total:
                entries.append(e)
        rows = []
        for e in sorted(entries, key=lambda e: e["seq"]):
            fault = PageFault(e["addr"], e["err"], e["eip"])
            rows.append([str(e["seq"]), str(e["pid"]), kinds.get(e["kind"], "?"),
                         actions.get(e["action"], "?"), reasons.get(e["reason"], "?"),
                         fault.describe(), symbolize(e["eip"])])
        if rows:
            write(table(["seq", "pid", "kind", "action", "reason", "fault", "eip in"], rows,
                        left=(2, 3, 4, 5, 6)))
        else:
            write("no faults recorded")


COMMANDS = (ProcsCommand, FaultsCommand)
