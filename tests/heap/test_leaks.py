"""Leak tracking: the report after a mark lists exactly the blocks left
allocated on purpose, with the callers that allocated them."""


def test_leak_report_lists_exactly_what_was_left(machine):
    mark = machine.call("heap_mark")
    kept = [machine.call("agent_kmalloc", n) for n in (24, 300, 5000)]
    freed = [machine.call("agent_kmalloc", n) for n in (40, 7000)]
    for p in freed:
        machine.call("kfree", p)
    direct = machine.call("kmalloc", 99)  # called straight from the harness
    log = machine.mark()
    assert machine.call("heap_leak_report", mark) == 4
    leaks = {r.int("addr"): r for r in machine.records("LEAK", since=log)}
    assert set(leaks) == set(kept) | {direct}
    agent = machine.symbol("agent_kmalloc")
    for p, size in zip(kept, (24, 300, 5000), strict=True):
        assert leaks[p].int("size") == size
        assert agent <= leaks[p].int("caller") < agent + 32
    summary = machine.records("LEAKS", since=log)[0]
    assert summary.int("count") == 4 and summary.int("bytes") == 24 + 300 + 5000 + 99


def test_blocks_from_before_the_mark_are_not_leaks(machine):
    old = machine.call("kmalloc", 64)
    mark = machine.call("heap_mark")
    log = machine.mark()
    assert machine.call("heap_leak_report", mark) == 0
    assert machine.records("LEAKS", since=log)[0].int("count") == 0
    machine.call("kfree", old)
