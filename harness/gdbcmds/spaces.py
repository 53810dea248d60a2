"""Address spaces and processes, for the commands that take ``[CR3|PID]``:
the live processes of proc_table, whose address space a CR3 is, and what an
argument names (a pid, 0 for the kernel, or a CR3 value).

Pids and labels ("pid 1 (hello)", "the kernel") need this firmware's symbols;
a CR3 value (or ``$cr3``) never does, so the page-table commands work on any
i386 kernel, with another kernel's symbol file or none."""

from __future__ import annotations

import gdb

from harness.gdbcmds.common import (
    PAGE_SIZE,
    CommandError,
    c_string,
    count_of,
    firmware,
    firmware_base,
    number,
    register,
    symbol_address,
    symbols_state,
    u32,
    value,
)

CR0_PG = 0x80000000
CR4_PSE = 0x10
CR4_PAE = 0x20
PDPT_ALIGN = 32  # under PAE, CR3 holds a 32-byte aligned PDPT address
CR3_FLAGS = 0x18  # PWT, PCD: the only low bits a non-PCID CR3 may carry


def processes() -> list[dict]:
    """Every process of proc_table whose state is not free, as plain values:
    its own fields and those of its address space (its struct mm) side by side."""
    table = value("proc_table")
    out = []
    for i in range(count_of("proc_table")):
        p = table[i]
        if int(p["state"]) == 0:
            continue
        mm = p["mm"]
        out.append({field: u32(p[field]) for field in ("pid", "state")}
                   | {field: u32(mm[field]) for field in (
                       "cr3", "heap_base", "brk", "stack_top", "stack_limit", "shm_base",
                       "pages", "demand_faults")}
                   | {"name": c_string(p["name"])})
    return out


def kernel_cr3() -> int | None:
    """Physical address of the kernel's page directory (pid 0's address space)."""
    addr = symbol_address("kernel_page_directory")
    return None if addr is None else addr - firmware_base()


def ram_limit() -> int | None:
    try:
        return u32("pmm_stats.frame_count") * PAGE_SIZE or None
    except gdb.error:
        return None


def describe_space(cr3: int) -> str:
    """Whose address space ``cr3`` is: with this firmware's symbols a process,
    the kernel, or nobody's; without them, just the value."""
    frame = cr3 & ~0xFFF
    current = " [current]" if register("cr3") & ~0xFFF == frame else ""
    if not firmware():
        return f"cr3 {cr3:#010x}{current}"
    try:
        live = processes()
    except gdb.MemoryError:
        # The current tables do not map the kernel's data (a space built by
        # hand, e.g. a PAE test's): the proc_table cannot be read through them.
        return f"cr3 {cr3:#010x}: unknown (proc_table is not mapped in the current space){current}"
    owner = next((f"pid {p['pid']} ({p['name']})" for p in live
                  if p["cr3"] & ~0xFFF == frame), None)
    if owner is None and frame == kernel_cr3():
        owner = "the kernel (kernel_page_directory)"
    return f"cr3 {cr3:#010x}: {owner or 'no live process uses it'}{current}"


def current_space() -> int:
    if not register("cr0") & CR0_PG:
        raise gdb.GdbError("mm: paging is off (CR0.PG is 0), $cr3 means nothing yet: "
                           "continue until the kernel turns paging on (this firmware: "
                           "past boot.S, e.g. to kernel_ready)")
    return register("cr3")


def resolve_space(arg: str | None) -> int:
    """The CR3 an argument names: none = the current $cr3; with this
    firmware's symbols, the pid of a live process = its cr3 and 0 = the
    kernel's directory; otherwise a CR3 value, which must be page aligned
    (PWT/PCD allowed) and, when the PMM knows the RAM size, inside RAM."""
    if arg is None:
        return current_space()
    n = number(arg, "cr3 or pid")
    low_bits = (PDPT_ALIGN if pae_enabled() else PAGE_SIZE) - 1
    if not firmware():
        if n < PAGE_SIZE or n & low_bits & ~CR3_FLAGS:
            raise CommandError(f"{arg} ({n:#x}) is not a CR3 value (a page directory's "
                               "physical address, 4 KiB aligned); pids need the mmverify "
                               f"firmware's symbols, and {symbols_state()}")
        return n
    try:
        live = {p["pid"]: p for p in processes()}
    except gdb.MemoryError:
        if not register("cr0") & CR0_PG:
            raise  # before paging, the kernel is not loaded yet: say that
        # The current tables do not map proc_table (a space built by hand, as
        # in a PAE test): no pids to know, the argument can still be a CR3.
        live = {}
    if n in live:
        return live[n]["cr3"]
    kernel = kernel_cr3() if n == 0 else None
    if kernel is not None:
        return kernel
    pids = ", ".join(str(pid) for pid in sorted(live)) or "none"
    if n & low_bits & ~CR3_FLAGS:
        raise CommandError(f"{arg} is neither the pid of a live process (live pids: {pids}) "
                           "nor a CR3 value (a page directory's physical address is "
                           "4 KiB aligned)")
    limit = ram_limit()
    if limit is not None and n >= limit:
        raise CommandError(f"{arg}: no live process has this pid (live pids: {pids}) and "
                           f"{n:#x} is beyond RAM ({limit:#x}), so not a CR3 value")
    return n


def pse() -> bool:
    """CR4.PSE: whether a PDE's PS bit means a 4 MiB page."""
    return bool(register("cr4") & CR4_PSE)


def pae_enabled() -> bool:
    """CR4.PAE: whether CR3 points at a PDPT of 64-bit entries."""
    return bool(register("cr4") & CR4_PAE)


def efer() -> int:
    """EFER (its NXE bit makes bit 63 of a PAE entry execute-disable); 0 on
    a gdbstub that does not expose it, where the CPU has no NX to show."""
    try:
        return register("efer")
    except gdb.error:
        return 0
