"""Shared memory: ping-pong between two processes through one segment,
attached at different addresses; the frames go back once both are gone."""

import pytest

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")


def test_ping_pong_then_frames_freed(machine, userland, kernel):
    machine.call("heap_trim")
    free_before = kernel.pmm_stats()["free_frames"]
    ping = userland.spawn("pingpong", "ping 10")
    results = userland.run()
    assert len(results) == 2 and all(r.status == 0 for r in results.values())
    records = {r["role"]: r for r in userland.claims("USER") if r["prog"] == "pingpong"}
    assert records["ping"].int("counter") == records["pong"].int("counter") == 20
    assert records["ping"]["addr"] != records["pong"]["addr"], "attached at different places"
    assert records["ping"].int("pid") == ping
    machine.call("heap_trim")
    assert kernel.pmm_stats()["free_frames"] == free_before, "every frame came back"


def test_a_segment_outlives_its_creator_while_attached(machine, userland):
    """pong attaches after ping created the segment; the segment must stay
    while either holds it (ping waits for pong, so here both do)."""
    userland.spawn("pingpong", "ping 3")
    results = userland.run()
    assert sorted(r.status for r in results.values()) == [0, 0]


def test_attaching_a_segment_that_does_not_exist_fails(machine, userland):
    """pong given an id nobody created: shm_attach returns an error and the
    program exits with its own status 4, not killed."""
    pid = userland.spawn("pingpong", "pong 99 1")
    r = userland.run()[pid]
    assert not r.killed and r.status == 4
