"""mm map on a fork tree: forker 1 2 (a parent and two children), stopped at
the second child's first copy-on-write fault.  By then the first child has
written its own pattern into the inherited data page and heap page, so it has
its own frames there, writable; the second child has written nothing yet and
still shares those pages with the parent, read-only and copy-on-write; the
text is one read-only frame all three map."""

import pytest

pytestmark = pytest.mark.qemu

SPAWN = ['set {char[7]}agent_scratch = "forker"', 'set {char[4]}(agent_scratch + 8) = "1 2"',
         "print proc_spawn(agent_scratch, agent_scratch + 8, 0)"]
# cow_fault takes the address space (struct mm), which has no pid: the faulting
# process is current.
STOP = ["break cow_fault if current->pid == 3", "print sched_run()"]
MAPS = ["mm map 1", "mm map 2", "mm map 3"]
TEXT, DATA, HEAP = 0x1000, 0x2000, 0x80000000  # aslr=off: the heap at its base


def pages(output: str) -> dict[int, tuple[int, str, int, bool]]:
    """mm map's page runs, one page each here: va -> (frame, rights, refs, cow)."""
    header, *rows, _ = output.split("copy-on-write\n", 1)[1].splitlines()
    assert header.split() == ["start", "end", "pages", "frame", "rights", "owned", "refs", "cow"]
    out = {}
    for row in rows:
        start, _end, n, frame, rights, owned, refs, *cow = row.split()
        assert (int(n), owned) == (1, "yes"), row
        out[int(start, 16)] = (int(frame, 16), rights, int(refs), cow == ["cow"])
    return out


def test_mm_map_shows_what_a_fork_tree_shares_and_what_it_copied(run_gdb):
    t = run_gdb([*SPAWN, *STOP, *MAPS], modules=("forker",))
    assert "Breakpoint 2, cow_fault" in t["print sched_run()"], t.text
    for c in MAPS:
        print(t[c].split("\n\n")[-1])  # the page runs, for people (pytest -s)
    parent, first, second = (pages(t[c]) for c in MAPS)
    text = parent[TEXT][0]
    assert parent[TEXT] == first[TEXT] == second[TEXT] == (text, "ur-", 3, False)
    for va in (DATA, HEAP):
        shared = parent[va][0]
        assert parent[va] == second[va] == (shared, "ur-", 2, True), "shared, copy-on-write"
        own = first[va][0]
        assert first[va] == (own, "urw", 1, False) and own not in (shared, text), "copied"
