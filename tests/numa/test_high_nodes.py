"""A node above 4 GiB: QEMU lays the two nodes' RAM one after the other and
then moves what lies past 3 GiB to 4 GiB, so node 1 is [4 GiB, 5 GiB).  The
kernel's node there matches the SRAT, a process bound to it gets frames above
4 GiB (PAE), and the harness reads them through node 1's RAM file.

Booted fresh: the pool's ready snapshot of 4 GiB would cost 3 to 12 s, by
load, for the one test that uses it."""

import pytest

from harness import CallStopped
from harness.decode import acpi
from harness.decode.qemunuma import node_ranges
from tests.numa.numa_view import node_stats, srat_nodes, user_frames

GIB = 1 << 30
PAGE = 4096


@pytest.mark.cold_boot
@pytest.mark.machine(numa=[3072, 1024], modules=["user/numapages"], cmdline="aslr=off paging=pae")
def test_a_node_above_4g(machine, userland, kernel):
    nodes = srat_nodes(machine)
    layout = node_ranges([3072, 1024])
    assert layout == [[(0, 3 * GIB)], [(4 * GIB, 5 * GIB)]]
    assert [(n.base, n.end) for n in nodes] == [(r[0][0], r[-1][1]) for r in layout]
    stats = node_stats(kernel)
    assert [(s["start"], s["end"]) for s in stats] == \
        [(0, 3 * GIB // PAGE), (4 * GIB // PAGE, 5 * GIB // PAGE)]
    pid = userland.spawn("numapages", "2 2 16")
    machine.break_at(userland.symbol("numapages", "checkpoint"))
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    heap = userland.process(pid).heap_base
    frames = user_frames(userland, pid, heap, 16)
    assert [acpi.node_of(nodes, pa) for pa in frames] == [1] * 16
    assert all(pa >= 4 * GIB for pa in frames)
    # Page i holds the byte i: read through node 1's RAM file.
    assert [machine.read_phys(pa, 1)[0] for pa in frames] == list(range(16))
    assert userland.read(pid, heap + 5 * PAGE, 1) == b"\x05"
    machine.delete_breakpoints()
    machine.cont()
