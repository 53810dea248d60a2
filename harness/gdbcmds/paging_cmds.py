"""``mm map`` and ``mm vtop``: an address space as the MMU sees it.

Both read the page tables from guest-physical memory (QEMU's physical mode)
and hand them to :mod:`harness.decode.paging`, the same walker the harness and its
tests use, so what a person sees here is what the tests assert on.
"""

from __future__ import annotations

from harness.decode import paging
from harness.gdbcmds.common import (
    KERNEL_BASE,
    CommandError,
    PhysReader,
    Subcommand,
    human,
    number,
    write,
)
from harness.gdbcmds.spaces import describe_space, pse, resolve_space


def walk(cr3: int) -> paging.AddressSpace:
    """The whole address space at ``cr3``: the directory and every present
    page table, each in one 4 KiB read, in one stretch of physical mode."""
    with PhysReader() as reader:
        return paging.walk(reader, cr3, pse=pse())


class MapCommand(Subcommand):
    """Show the merged region map of an address space: mm map [CR3|PID]

    Contiguous virtual ranges with the same effective rights, as the MMU
    applies them (a PDE limits every PTE below it): start, end, size, rights
    (u = user, r = readable, w = writable; "-r-" is supervisor read-only) and
    whether the pages are global.  Without an argument: the address space in
    $cr3.  With the pid of a live process: that process's (its proc_table
    cr3); 0 is the kernel's own directory; any other number is taken as a
    CR3 value (a page-aligned physical address).  Walked by harness.decode.paging,
    the walker the tests use, from the page tables in physical memory."""

    name = "map"
    usage = "mm map [CR3|PID]"

    def run(self, argv: list[str]) -> None:
        if len(argv) > 1:
            raise CommandError("too many arguments")
        cr3 = resolve_space(argv[0] if argv else None)
        aspace = walk(cr3)
        regions = aspace.regions(split_global=True)
        write(f"address space of {describe_space(cr3)}")
        write(paging.format_regions(regions))
        user = sum(r.size for r in regions if r.end <= KERNEL_BASE)
        kernel = sum(r.size for r in regions) - user
        write(f"{len(regions)} regions: {human(user)} below {KERNEL_BASE:#x}, "
              f"{human(kernel)} above; {aspace.page_tables()} page tables")


class VtopCommand(Subcommand):
    """Translate a virtual address, level by level: mm vtop ADDR [CR3|PID]

    Shows the page-directory index (PDX) and page-table index (PTX), the PDE
    and the PTE with their flags (P present, W writable, U user, A accessed,
    D dirty, G global...), and the physical address, or "not mapped" when the
    access would fault.  ADDR is any GDB expression (0xc0100000, &pmm_stats,
    $eip).  The address space is chosen as for "mm map"."""

    name = "vtop"
    usage = "mm vtop ADDR [CR3|PID]"

    def run(self, argv: list[str]) -> None:
        if not argv:
            raise CommandError("an address is needed")
        if len(argv) > 2:
            raise CommandError("too many arguments")
        va = number(argv[0], "address")
        cr3 = resolve_space(argv[1] if len(argv) > 1 else None)
        t = walk(cr3).translate(va)
        write(f"in the address space of {describe_space(cr3)}")
        write(str(t))
        if t.pa is not None:
            write(f"  effective: {'user' if t.user else 'supervisor'}, "
                  f"{'read-write' if t.write else 'read-only'}")


COMMANDS = (MapCommand, VtopCommand)
