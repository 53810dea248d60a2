"""The balloon on a two-node NUMA machine (64 + 64 MiB), judged from the
frame table's node of each FRAME_BALLOON frame, the PMM's bitmap and the
kernel's per-node statistics; the conftest's audit (buddy maps per node's
zone, the frame table) runs after each test."""

import pytest

from tests.balloon.test_balloon import balloon_frames, resize
from tests.numa.numa_view import frame_nodes, node_stats

pytestmark = pytest.mark.machine(numa=[64, 64], balloon=True)

RAM_MIB = 128


def most_free_first(free: list[int], take: int) -> list[int]:
    """How many frames each node gives when every frame comes from the node
    with the most free frames, the lowest such node on a tie (dev/balloon.c)."""
    free, given = list(free), [0] * len(free)
    for _ in range(take):
        node = free.index(max(free))
        free[node] -= 1
        given[node] += 1
    return given


def test_most_free_first_model():
    assert most_free_first([5, 8], 5) == [1, 4]
    assert most_free_first([3, 3], 3) == [2, 1]


def per_node(kernel, pfns: list[int], nodes: int) -> list[int]:
    on = frame_nodes(kernel)
    return [sum(1 for pfn in pfns if on[pfn] == n) for n in range(nodes)]


def free_per_node(kernel, nodes: int) -> list[int]:
    """Free frames on each node, counted in the PMM's bitmap."""
    on = frame_nodes(kernel)
    used, _ = kernel.pmm_bitmaps()
    free = [0] * nodes
    for pfn in range(kernel.pmm_stats()["frame_count"]):
        if not used[pfn]:
            free[on[pfn]] += 1
    return free


def test_inflating_takes_from_the_node_with_the_most_free_frames(machine, kernel):
    """Node 0 holds the kernel, so node 1 gives first until both have as many
    free, then the two take turns: the balloon leaves both nodes alike free,
    never empties the kernel's node, and is no node's fallback."""
    before = node_stats(kernel)
    assert free_per_node(kernel, 2) == [s["free_frames"] for s in before]
    taken = (RAM_MIB - 64) * 256
    resize(machine, 64)
    given = most_free_first([s["free_frames"] for s in before], taken)
    assert per_node(kernel, balloon_frames(kernel), 2) == given
    assert given[1] > given[0] > 0
    after = node_stats(kernel)
    free = free_per_node(kernel, 2)
    assert [s["free_frames"] for s in after] == free
    assert free == [b["free_frames"] - g for b, g in zip(before, given, strict=True)]
    assert abs(free[0] - free[1]) <= 1
    assert [s["fallbacks"] for s in after] == [s["fallbacks"] for s in before]
    resize(machine, RAM_MIB)
    assert balloon_frames(kernel) == []
    assert free_per_node(kernel, 2) == [s["free_frames"] for s in before]
    assert [s["free_frames"] for s in node_stats(kernel)] == [s["free_frames"] for s in before]
