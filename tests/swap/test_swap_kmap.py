"""Paging out frames the direct map does not reach.  On a 1 GiB machine user
frames come from above the direct map's end (768 MiB) first, so the clock
reads each page it evicts through a kmap window, of which there are four:
every eviction must give its window back, or the fifth finds none and the
kernel panics.  16 text pages go to the compressed pool (no disk needed)."""

import pytest

from tests.swap.swapping import PAGE, swap_entries, swap_stats
from tests.swap.test_swap_disk import stop_at_first_checkpoint, verified

DIRECT_MAP_LIMIT = 0x30000000
KMAP_SLOTS = 4
PAGES = 16

pytestmark = pytest.mark.machine(memory="1G", modules=["user/swapper"], cmdline="aslr=off")


def test_every_eviction_beyond_the_direct_map_gives_its_kmap_window_back(
        machine, userland, kernel):
    pid = userland.spawn("swapper", f"{PAGES} t 3 p")
    heap = userland.process(pid).heap_base
    stop_at_first_checkpoint(machine, userland, pid)
    space = userland.address_space(pid)
    stack = space.translate(userland.process(pid).stack_top - PAGE)
    assert stack.pa >= DIRECT_MAP_LIMIT, "the process's frames lie beyond the direct map"
    slots = swap_entries(userland, pid, heap, heap + PAGES * PAGE)
    assert len(slots) == PAGES and len(set(slots.values())) == PAGES
    s = swap_stats(kernel)
    assert (s["swap_outs"], s["pool_stores"], s["disk_writes"]) == (PAGES, PAGES, 0)
    busy = machine.read(machine.symbol("kmap_busy"), KMAP_SLOTS)
    assert busy == bytes(KMAP_SLOTS), "every window given back"
    machine.cont()
    verified(userland, [pid])
