"""fork's FORK record against the page tables it made.  Stopped where fork
has copied every range but printed nothing yet (shm_inherit, which only fork
calls), the walker counts the child's user entries: every present or
PROT_NONE one (pages), the writable ones (shared: a private writable page is
copy-on-write and read-only in both now) and the PAGE_COW ones (cow).  The
record the kernel prints next must say exactly those numbers: it is the only
place fork's tally shows, and nothing else checks it."""

import pytest

from tests.expected import KERNEL_BASE
from tests.process.test_fork import stop_at_checkpoint

pytestmark = pytest.mark.machine(modules=["user/forkshm", "user/swapper"],
                                 cmdline="aslr=off zswap=off")


def walked_counts(space) -> tuple[int, int, int]:
    present = list(space.mappings(0, KERNEL_BASE))
    protnone = list(space.protnone_pages(0, KERNEL_BASE))
    entries = present + protnone
    return (len(entries), sum(1 for m in present if m.write), sum(1 for m in entries if m.cow))


# forkshm: one shared memory page and its stack; swapper: 16 written heap pages.
PROGRAMS = {"forkshm": ("", 1, 1), "swapper": ("16 t 1 f", 0, 16)}


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_fork_record_counts_exactly_the_entries_the_walker_finds(machine, userland, program):
    args, shared_pages, private_written = PROGRAMS[program]
    pid = userland.spawn(program, args)
    parent_cr3 = userland.process(pid).cr3
    machine.break_at("shm_inherit")
    mark = machine.mark()
    assert stop_at_checkpoint(machine), "fork reached shm_inherit"
    [child] = [p for p in userland.processes() if p.cr3 != parent_cr3]
    pages, shared, cow = walked_counts(machine.address_space(child.cr3))
    machine.delete_breakpoints()
    machine.cont()
    assert userland.history()[pid].status == 0
    [fork] = machine.records("FORK", since=mark)
    assert (fork.int("pages"), fork.int("shared"), fork.int("cow")) == (pages, shared, cow)
    assert shared == shared_pages and cow >= private_written, (pages, shared, cow)
