"""Process teardown allocates nothing, so it completes whatever the PMM has
left and needs no reserve of its own.  A process holding every kind of
thing teardown gives back (private pages, swap entries, a shared segment it
created and attached, an open file, a forked child that ended unwaited so
its record is in the history) exits with a GDB breakpoint on every
allocator's entry: none is hit from the exit system call until sched_run
returns, no allocation failed, and every frame, slot and segment is back."""

import struct

import pytest

from harness.machine.disks import DiskSpec
from tests.process.vmdriver import OPS, PRIVATE, RW, VmDriver
from tests.swap.swapping import swap_stats

pytestmark = pytest.mark.machine(modules=["user/vmdriver"], disks=[DiskSpec("hda", size="4M")],
                                 cmdline="aslr=off")

PAGE = 4096
O_RDWR = 2
# Every way into the PMM, the heap, the pools and reclaim (the public entry
# points: internal paths go through one of them).
ALLOCATORS = ("allocate_page", "allocate_pages", "allocate_block", "pmm_alloc_user_frame",
              "pmm_alloc_user_frame_node", "numa_alloc_user_frame", "alloc_kernel_frame",
              "kmalloc", "kmalloc_aligned", "kmalloc_contig", "kcalloc", "krealloc",
              "pool_alloc", "pool_alloc_normal", "reclaim_user_frame", "reclaim_frames")


def free_frames(machine, kernel):
    machine.call("heap_trim")
    return kernel.pmm_stats()["free_frames"]


def warm_up_swap(userland):
    """One page out and back in a first process: swap's slot map and cache
    table are allocated on first use and kept, so they are not counted."""
    vm = VmDriver(userland)
    a = vm.do("mmap", 0, PAGE, RW, PRIVATE)
    assert vm.do("touch", a, PAGE) == 0
    assert vm.do("pageout", a, PAGE) == 1
    vm.finish()


def test_teardown_allocates_nothing_and_gives_every_frame_back(machine, userland, kernel):
    warm_up_swap(userland)
    before = free_frames(machine, kernel)
    failed = kernel.pmm_stats()["failed_allocations"]
    vm = VmDriver(userland)
    a = vm.do("mmap", 0, 4 * PAGE, RW, PRIVATE)
    assert vm.do("touch", a, 4 * PAGE, value=0x5000) == 0
    userland.write(vm.pid, a + 3 * PAGE + 16, b"/dev/hda\0")
    assert vm.do("open", a + 3 * PAGE + 16, flags=O_RDWR) >= 0
    assert vm.do("pageout", a, 2 * PAGE) == 2
    assert vm.do("shm", length=2) > 0
    child = vm.fork()
    assert child.finish(7).status == 7  # shares the swap entries, the segment, the file
    assert swap_stats(kernel)["in_use"] == 2 and len(kernel.shm_segments()) == 1
    assert userland.history()[child.pid].status == 7
    # The exit, as VmDriver.finish does it, with the allocators watched.
    userland.write(vm.pid, vm.request, struct.pack("<6I", OPS["exit"], 0, 0, 0, 0, 0))
    machine.delete_breakpoints()
    entries = {machine.symbol(name): name for name in ALLOCATORS}
    for name in ALLOCATORS:
        machine.break_at(name)
    stop = machine.cont()
    machine.delete_breakpoints()
    called = entries.get(stop.addr)
    if called:
        machine.cont()  # let sched_run finish before failing
    assert called is None, f"teardown called {called}"
    vm.family.stopped = None
    del vm.family.members[vm.pid]
    assert userland.history()[vm.pid].status == 0
    assert kernel.pmm_stats()["failed_allocations"] == failed
    assert swap_stats(kernel)["in_use"] == 0 and kernel.shm_segments() == []
    assert free_frames(machine, kernel) == before, "every frame back"
