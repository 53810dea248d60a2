"""Allocation policies judged from outside: the host walks the process's
page tables and maps each frame to its node by address (the SRAT decoded
from guest RAM), and checks the kernel's frame table and node statistics
against that."""

import pytest

from harness import CallStopped
from harness.decode import acpi
from tests.numa.numa_view import (
    frame_nodes,
    mempolicy,
    node_stats,
    srat_nodes,
    user_frames,
    user_pages,
)
from tests.swap.swapping import swap_entries

MPOL_LOCAL, MPOL_INTERLEAVE, MPOL_BIND = 0, 1, 2
PAGE = 4096


def run_to_checkpoint(machine, userland, name="numapages"):
    """Runs the scheduler until a numapages process reaches checkpoint(1);
    that process's pid."""
    machine.break_at(userland.symbol(name, "checkpoint"))
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    cr3 = machine.registers("cr3")["cr3"]
    return next(p.pid for p in userland.processes() if p.cr3 == cr3)


def finish(machine, userland):
    """Lets the stopped run finish: every process ended with status 0."""
    machine.delete_breakpoints()
    machine.cont()
    results = userland.history()
    assert results and all(not r.killed and r.status == 0 for r in results.values()), results


def nodes_of(machine, kernel, addresses):
    nodes = srat_nodes(machine)
    on = frame_nodes(kernel)
    found = [acpi.node_of(nodes, pa) for pa in addresses]
    assert found == [on[pa // PAGE] for pa in addresses], "frame table disagrees with the SRAT"
    return found


@pytest.mark.parametrize("node", [0, 1])
@pytest.mark.machine(numa=[48, 16], modules=["user/numapages"], cmdline="aslr=off")
def test_a_bound_process_gets_every_frame_from_its_node(machine, userland, kernel, node):
    """The parent binds itself and spawns the child, which inherits the
    policy: every user page of the child, its image and stack included,
    lies on the node."""
    parent = userland.spawn("numapages", f"{MPOL_BIND} {1 << node} 64 2")
    child = run_to_checkpoint(machine, userland)
    assert child != parent
    assert mempolicy(kernel, child)[:2] == (MPOL_BIND, 1 << node)
    pages = user_pages(userland, child, machine.cfg.target.kernel_base)
    held = next(p for p in kernel.process_table() if p["pid"] == child)["pages"]
    assert len(pages) == held > 64  # the host's walk finds every page the kernel counts
    assert set(nodes_of(machine, kernel, [pa for _va, pa in pages])) == {node}
    finish(machine, userland)


@pytest.mark.machine(numa=[48, 16], modules=["user/numapages"], cmdline="aslr=off")
def test_exec_keeps_the_policy(machine, userland, kernel):
    """A process bound to node 1 execs numapages: the policy survives exec,
    and every page of the new image, its heap and its stack lies on node 1."""
    pid = userland.spawn("numapages", f"{MPOL_BIND} 2 32 3")
    assert run_to_checkpoint(machine, userland) == pid
    assert mempolicy(kernel, pid)[:2] == (MPOL_BIND, 2)
    pages = user_pages(userland, pid, machine.cfg.target.kernel_base)
    held = next(p for p in kernel.process_table() if p["pid"] == pid)["pages"]
    assert len(pages) == held > 32
    assert set(nodes_of(machine, kernel, [pa for _va, pa in pages])) == {1}
    finish(machine, userland)


@pytest.mark.machine(numa=[48, 16], modules=["user/numapages"], cmdline="aslr=off")
def test_fork_inherits_the_policy(machine, userland, kernel):
    parent = userland.spawn("numapages", f"{MPOL_BIND} 2 32 1")
    child = run_to_checkpoint(machine, userland)
    assert child != parent
    assert mempolicy(kernel, child)[:2] == (MPOL_BIND, 2)
    heap = userland.process(child).heap_base
    assert nodes_of(machine, kernel, user_frames(userland, child, heap, 32)) == [1] * 32
    finish(machine, userland)


@pytest.mark.machine(numa=[32, 16, 8, 8], modules=["user/numapages"], cmdline="aslr=off")
def test_interleave_goes_round_the_mask(machine, userland, kernel):
    """Mask {0, 1, 3}: consecutive heap pages take nodes 0, 1, 3, 0, 1, 3...
    from the mask's lowest node (set_mempolicy starts the round there), and
    the policy's cursor is left on the mask's node after the last one."""
    pid = userland.spawn("numapages", f"{MPOL_INTERLEAVE} {0b1011} 24")
    assert run_to_checkpoint(machine, userland) == pid
    heap = userland.process(pid).heap_base
    got = nodes_of(machine, kernel, user_frames(userland, pid, heap, 24))
    cycle = [0, 1, 3]
    assert got == [cycle[i % 3] for i in range(24)]
    assert mempolicy(kernel, pid) == (MPOL_INTERLEAVE, 0b1011, cycle[24 % 3])
    finish(machine, userland)


def interleave_model(mask: list[int], full_after: dict[int, int], pages: int):
    """The nodes strict interleave hands out over `mask` when node n has room
    for full_after[n] frames (the others never fill): each page goes to the
    first node with room from the cursor, and the cursor moves to the mask's
    node after the one that served.  (nodes, fallbacks per node)."""
    room = dict(full_after)
    at, got, fallbacks = 0, [], dict.fromkeys(mask, 0)
    for _ in range(pages):
        for k in range(len(mask)):
            node = mask[(at + k) % len(mask)]
            if room.get(node, 1) > 0:
                break
        if node in room:
            room[node] -= 1
        fallbacks[node] += k > 0
        got.append(node)
        at = (mask.index(node) + 1) % len(mask)
    return got, fallbacks


@pytest.mark.machine(numa=[32, 4, 8], modules=["user/numapages"], cmdline="aslr=off")
def test_interleave_past_a_full_node_alternates_strictly_inside_the_mask(
        machine, userland, kernel):
    """Mask {0, 1, 2} with node 1 (4 MiB) filling up: once it is full, its
    turn goes to the next node of the mask (2), counted as a fallback there,
    and the round goes on from the node that served, so 0 and 2 alternate
    strictly (never 2, 2)."""
    pages = 3300
    pid = userland.spawn("numapages", f"{MPOL_INTERLEAVE} {0b111} {pages}")
    before = node_stats(kernel)
    assert run_to_checkpoint(machine, userland) == pid
    heap = userland.process(pid).heap_base
    got = nodes_of(machine, kernel, user_frames(userland, pid, heap, pages))
    on_node_1 = got.count(1)
    expected, fallbacks = interleave_model([0, 1, 2], {1: on_node_1}, pages)
    assert sum(fallbacks.values()) >= 100, "node 1 filled too late to see the fallback"
    assert got == expected
    assert node_stats(kernel)[1]["free_frames"] == 0
    after = node_stats(kernel)
    assert [a["fallbacks"] - b["fallbacks"] for a, b in zip(after, before, strict=True)] == \
        [fallbacks[n] for n in range(3)]
    finish(machine, userland)


# Node 0's nearest other node is 2, then 3, then 1: not the lowest number.
DISTANCES = [[10, 40, 15, 30],
             [40, 10, 35, 20],
             [15, 35, 10, 25],
             [30, 20, 25, 10]]


@pytest.mark.machine(numa=[8, 8, 8, 8], numa_distances=DISTANCES,
                     modules=["user/numapages"], cmdline="aslr=off")
def test_local_node_full_falls_back_to_the_nearest(machine, userland, kernel):
    """Under MPOL_LOCAL the heap fills node 0, then goes on in node 2 (the
    nearest by the SLIT), never node 1; each of those frames is a fallback."""
    before = node_stats(kernel)
    extra = 200
    pages = before[0]["free_frames"] + extra
    pid = userland.spawn("numapages", f"{MPOL_LOCAL} 0 {pages}")
    assert run_to_checkpoint(machine, userland) == pid
    heap = userland.process(pid).heap_base
    got = nodes_of(machine, kernel, user_frames(userland, pid, heap, pages))
    first_remote = got.index(2)
    assert got == [0] * first_remote + [2] * (pages - first_remote)
    assert pages - first_remote >= extra
    after = node_stats(kernel)
    taken = after[2]["allocations"] - before[2]["allocations"]
    assert after[2]["fallbacks"] - before[2]["fallbacks"] == taken >= pages - first_remote
    assert [a["fallbacks"] for a in after[:2] + after[3:]] == \
        [b["fallbacks"] for b in before[:2] + before[3:]]
    finish(machine, userland)


@pytest.mark.machine(numa=[8, 8, 8, 8], numa_distances=DISTANCES,
                     modules=["user/numapages"], cmdline="aslr=off")
def test_past_the_nearest_node_the_next_nearest_serves(machine, userland, kernel):
    """Under MPOL_LOCAL with node 0 and node 2 both filled, the heap goes on
    in node 3 (distance 30), never node 1 (40): the SLIT's order past its
    first step.  Every frame off node 0 is a fallback on the node that
    served it."""
    before = node_stats(kernel)
    extra = 200
    pages = before[0]["free_frames"] + before[2]["free_frames"] + extra
    pid = userland.spawn("numapages", f"{MPOL_LOCAL} 0 {pages}")
    assert run_to_checkpoint(machine, userland) == pid
    heap = userland.process(pid).heap_base
    got = nodes_of(machine, kernel, user_frames(userland, pid, heap, pages))
    on = {n: got.count(n) for n in range(4)}
    assert on[1] == 0 and on[3] >= extra
    assert got == [0] * on[0] + [2] * on[2] + [3] * on[3]
    after = node_stats(kernel)
    assert after[0]["free_frames"] == after[2]["free_frames"] == 0
    assert [a["fallbacks"] - b["fallbacks"] for a, b in zip(after, before, strict=True)] == \
        [0, 0, after[2]["allocations"] - before[2]["allocations"],
         after[3]["allocations"] - before[3]["allocations"]]
    assert after[3]["allocations"] - before[3]["allocations"] >= on[3]
    finish(machine, userland)


@pytest.mark.parametrize(("args", "expected"), [
    ("3 0", -22),     # no such mode
    ("2 0", -22),     # bind to nothing
    ("1 4", -22),     # interleave over node 2 of a 2-node machine
    ("0 1", -22),     # local takes no mask
    ("2 3", 0),
])
@pytest.mark.machine(numa=[48, 16], modules=["user/numapages"], cmdline="aslr=off")
def test_set_mempolicy_refuses_what_it_cannot_do(machine, userland, kernel, args, expected):
    pid = userland.spawn("numapages", f"{args} 1")
    assert run_to_checkpoint(machine, userland) == pid
    mode, mask = (int(a) for a in args.split())
    assert mempolicy(kernel, pid)[:2] == ((mode, mask) if expected == 0 else (0, 0))
    finish(machine, userland)
    assert [c.int("set_mempolicy") for c in userland.claims("USER", pid=pid)] == [expected]


@pytest.mark.machine(numa=[56, 8], modules=["user/numapages"], cmdline="aslr=off")
def test_bind_exhausted_goes_through_reclaim_never_another_node(machine, userland, kernel):
    """Bound to node 1 (8 MiB, 2048 frames) and touching 2300 pages: what
    does not fit is reclaimed (swapped out) from node 1 itself while node 0
    has plenty free; every heap page is on node 1, in RAM or in swap, and
    node 0 hands out nothing after the spawn (the image came before the
    policy, from the kernel's spawn)."""
    pid = userland.spawn("numapages", f"{MPOL_BIND} 2 2300")
    before = node_stats(kernel)
    assert run_to_checkpoint(machine, userland) == pid
    heap = userland.process(pid).heap_base
    pages = [(va, pa) for va, pa in user_pages(userland, pid, machine.cfg.target.kernel_base)
             if heap <= va < heap + 2300 * PAGE]
    assert set(nodes_of(machine, kernel, [pa for _va, pa in pages])) == {1}
    swapped = swap_entries(userland, pid, heap, heap + 2300 * PAGE)
    assert swapped and len(pages) + len(swapped) == 2300
    after = node_stats(kernel)
    assert after[0]["allocations"] == before[0]["allocations"], "node 0 was not used"
    assert [a["fallbacks"] for a in after] == [b["fallbacks"] for b in before]
    finish(machine, userland)


@pytest.mark.machine(numa=[56, 8], modules=["user/numapages", "user/bystander"],
                     cmdline="aslr=off")
def test_bound_reclaim_leaves_other_nodes_pages_resident(machine, userland, kernel):
    """A bystander lives on node 0 (local policy) while a process bound to
    node 1 overflows it: reclaim swaps out only node 1's pages, so the
    bystander keeps every page in RAM, node 0 hands out nothing more, and
    the record of the run is the bound process's alone."""
    bystander = userland.spawn("bystander", "1000")
    bound = userland.spawn("numapages", f"{MPOL_BIND} 2 2300")
    assert run_to_checkpoint(machine, userland) == bound
    table = {p["pid"]: p for p in kernel.process_table()}
    assert table[bystander]["swapped_pages"] == 0
    assert swap_entries(userland, bystander, 0, machine.cfg.target.kernel_base) == {}
    assert table[bound]["swapped_pages"] > 0
    resident = [pa for _va, pa in user_pages(userland, bystander, machine.cfg.target.kernel_base)]
    assert len(resident) == table[bystander]["pages"]
    assert set(nodes_of(machine, kernel, resident)) == {0}
    finish(machine, userland)


@pytest.mark.machine(numa=[16, 16, 16, 16], modules=["user/numapages"], cmdline="aslr=off")
def test_spawn_builds_the_child_under_the_childs_own_interleave_cursor(
        machine, userland, kernel):
    """An interleaving parent spawns a child: the child's image is built
    under the child's copy of the policy, so the parent's cursor does not
    move across the spawn, and the child's has gone round once per user
    page it holds (every node of the mask has room)."""
    parent = userland.spawn("numapages", f"{MPOL_INTERLEAVE} {0b1111} 8 2")
    at_spawn = machine.break_at("proc_spawn")
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    cursor = mempolicy(kernel, parent)[2]
    machine.delete_breakpoint(at_spawn)
    machine.break_at(userland.symbol("numapages", "checkpoint"))
    machine.cont()
    child = next(p.pid for p in userland.processes() if p.pid != parent)
    assert mempolicy(kernel, parent)[2] == cursor
    pages = next(p for p in kernel.process_table() if p["pid"] == child)["pages"]
    assert len(user_pages(userland, child, machine.cfg.target.kernel_base)) == pages
    assert mempolicy(kernel, child) == (MPOL_INTERLEAVE, 0b1111, (cursor + pages) % 4)
    finish(machine, userland)


@pytest.mark.machine(numa=[56, 8], modules=["user/numapages"], cmdline="aslr=off zswap=off")
def test_a_bound_process_without_swap_meets_the_oom_rule_with_other_nodes_free(
        machine, userland, kernel):
    """No swap at all: a process bound to node 1 touching more pages than
    node 1 holds gains nothing from reclaim there, so it is the OOM victim
    at once, though node 0 has thousands of frames free.  The RECLAIM
    record says so: the mask (node 1), nothing free there, plenty free in
    all, and its counters are reclaim_stats' (the heap's share included)."""
    pid = userland.spawn("numapages", f"{MPOL_BIND} 2 2300")
    mark = machine.mark()
    userland.run()
    [oom] = machine.records("OOM", since=mark)
    assert oom.int("pid") == pid
    [record] = machine.records("RECLAIM", since=mark)
    stats = dict(kernel.read_struct("reclaim_stats", "reclaim_stats"))
    assert record.fields["got"] == "0"
    assert (record.int("nodes"), record.int("free_there")) == (0b10, 0)
    assert record.int("free") > 10000  # node 0's, nearly all of its 56 MiB
    assert [record.int(k) for k in ("calls", "heap", "bcache", "pagecache", "swapped", "failed")] \
        == [stats[k] for k in ("calls", "from_heap", "from_bcache", "from_pagecache",
                               "swapped_out", "failed")]
    assert stats["swapped_out"] == 0
    result = userland.history()[pid]
    assert result.killed and result.reason == "out-of-memory"
