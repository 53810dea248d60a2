"""Per-CPU frame caches in front of the PMM (firmware/mm/pcp.c): with
``pcp=on`` allocate_page and free_page go through the calling CPU's cache.
Every step is checked from outside: which frame each call returns, the
caches' frames and counts read from guest RAM (``cpus[i].frames``), the
bitmap, pmm_stats; conftest's audits (buddy maps, and the caches against the
bitmap and the frame table) run after each test."""

import time

import pytest

from harness import CallStopped, GuestPanic
from harness.decode.frames import FRAME_PCP
from harness.targets.mmverify.pcp_audit import pcp_audit, read_caches

FRAME = 4096
PCP_ON = pytest.mark.machine(cmdline="pcp=on")
NO_STATS = {"allocs": 0, "frees": 0, "refills": 0, "refilled": 0, "drains": 0, "drained": 0}


def lowest_free(used, n, start=0):
    """The n lowest free frames of a bitmap, from ``start`` on."""
    out = []
    while len(out) < n:
        start = used.first_clear(start)
        out.append(start)
        start += 1
    return out


def with_frames(used_value, frames):
    return used_value | sum(1 << f for f in frames)


def emptied(machine, kernel):
    """Every cache drained (boot's allocations after pcp_init leave frames
    in CPU 0's): the state each pcp=on test starts from, and its stats."""
    frames = sum(c.count for c in read_caches(kernel))
    assert machine.call("pcp_drain_all") == frames
    caches = read_caches(kernel)
    assert [c.count for c in caches] == [0] * len(caches)
    return [c.stats for c in caches]


def cache(kernel, cpu=0):
    return read_caches(kernel)[cpu]


def grown(base, **delta):
    """What a cache's statistics should be: ``base`` plus ``delta``."""
    return {k: v + delta.get(k, 0) for k, v in base.items()}


@PCP_ON
def test_the_first_allocation_refills_a_batch_lowest_first(machine, kernel):
    base = emptied(machine, kernel)[0]
    used, _ = kernel.pmm_bitmaps()
    free_before = kernel.pmm_stats()["free_frames"]
    batch = lowest_free(used, 16)
    assert machine.call("allocate_page") == batch[0] * FRAME
    c = cache(kernel)
    assert (c.count, c.frames) == (15, batch[:0:-1]), "the lowest on top, the highest at the bottom"
    assert c.stats == grown(base, allocs=1, refills=1, refilled=16)
    assert kernel.pmm_bitmaps()[0].value == with_frames(used.value, batch), "all 16 used"
    assert kernel.pmm_stats()["free_frames"] == free_before - 16
    assert [read_caches(kernel)[i].count for i in range(1, len(read_caches(kernel)))] == \
        [0] * (len(read_caches(kernel)) - 1), "no other CPU's cache"


@PCP_ON
def test_a_run_of_allocations_returns_increasing_addresses_across_refills(machine, kernel):
    base = emptied(machine, kernel)[0]
    used, _ = kernel.pmm_bitmaps()
    three_batches = lowest_free(used, 48)
    got = [machine.call("allocate_page") for _ in range(40)]
    assert got == [f * FRAME for f in three_batches[:40]], "lowest first, as without the cache"
    c = cache(kernel)
    assert (c.count, c.frames) == (8, three_batches[:39:-1])
    assert c.stats == grown(base, allocs=40, refills=3, refilled=48)


@PCP_ON
def test_a_free_is_cached_and_taken_back_first(machine, kernel):
    base = emptied(machine, kernel)[0]
    a, b = machine.call("allocate_page"), machine.call("allocate_page")
    used, _ = kernel.pmm_bitmaps()
    pmm = kernel.pmm_stats()
    machine.call("free_page", a)
    c = cache(kernel)
    assert (c.count, c.frames[-1]) == (15, a // FRAME), "a is on top"
    assert kernel.pmm_bitmaps()[0].value == used.value, "still used in the bitmap"
    assert kernel.pmm_stats() == pmm, "the PMM saw nothing"
    assert machine.call("allocate_page") == a, "the cache's top first"
    assert machine.call("allocate_page") == b + FRAME, "then the refill's next"
    assert cache(kernel).stats == grown(base, allocs=4, frees=1, refills=1, refilled=16)


@PCP_ON
def test_a_full_cache_gives_its_older_half_back(machine, kernel):
    base = emptied(machine, kernel)[0]
    used, _ = kernel.pmm_bitmaps()
    frames = [machine.call("allocate_page") for _ in range(80)]  # 5 refills, empty again
    assert cache(kernel).count == 0
    for pa in frames[:64]:
        machine.call("free_page", pa)
    c = cache(kernel)
    assert (c.count, c.frames) == (64, [pa // FRAME for pa in frames[:64]])
    free_at_full = kernel.pmm_stats()["free_frames"]
    machine.call("free_page", frames[64])
    c = cache(kernel)
    assert (c.count, c.frames) == (33, [pa // FRAME for pa in frames[32:65]]), \
        "the bottom 32 went back, the rest moved down, the new one on top"
    assert c.stats == grown(base, allocs=80, frees=65, refills=5, refilled=80, drains=1,
                            drained=32)
    assert kernel.pmm_stats()["free_frames"] == free_at_full + 32
    in_use = with_frames(used.value, [pa // FRAME for pa in frames[32:]])
    assert kernel.pmm_bitmaps()[0].value == in_use, "exactly the older half is free"
    assert machine.call("pcp_drain_cpu", 0) == 33
    c = cache(kernel)
    assert (c.count, c.stats) == (0, grown(base, allocs=80, frees=65, refills=5, refilled=80,
                                           drains=2, drained=65))
    assert kernel.pmm_bitmaps()[0].value == with_frames(used.value, [pa // FRAME
                                                                     for pa in frames[65:]])


@PCP_ON
def test_bad_frees_go_to_the_pmm_and_are_refused_there(machine, kernel):
    """Only a frame the PMM would take back is cached: a free one, a
    reserved one, an unaligned address (by one byte too) and one past the
    bitmap are refused by the PMM, with the
    caller that freed them, and the cache is unchanged."""
    base = emptied(machine, kernel)[0]
    pa = machine.call("allocate_page")
    machine.call("free_page", pa)
    before = cache(kernel)
    assert before.stats == grown(base, allocs=1, frees=1, refills=1, refilled=16)
    free = kernel.pmm_bitmaps()[0].first_clear() * FRAME
    reserved_frame = kernel.pmm_bitmaps()[1].set_bits()[0] * FRAME
    start = machine.symbol("agent_free_page")
    for bad, kind in ((free, "double-free"), (reserved_frame, "reserved"),
                      (pa + 1, "unaligned"), (pa + 8, "unaligned"),
                      (kernel.pmm_stats()["frame_count"] * FRAME,
                                              "out-of-range")):
        used = kernel.pmm_bitmaps()[0].value
        mark = machine.mark()
        machine.call("agent_free_page", bad)
        [rec] = machine.records("PMM", since=mark)
        assert (rec["error"], rec.int("addr")) == (kind, bad)
        assert start <= rec.int("caller") < start + 64, "agent_free_page's call site"
        assert cache(kernel) == before, f"{kind}: nothing cached"
        assert kernel.pmm_bitmaps()[0].value == used


def frame_flags(kernel, pfn):
    return kernel.frame_table()[pfn].flags


@PCP_ON
def test_a_cached_frame_freed_again_is_a_double_free(machine, kernel):
    """A cached frame is used in the bitmap, so only its FRAME_PCP flag tells
    a second free: one freed twice, and one the refill cached but nobody was
    given, are both refused as the PMM refuses a double free (its record,
    its counter, the caller), and the cache keeps each frame once."""
    base = emptied(machine, kernel)[0]
    pa = machine.call("allocate_page")
    assert frame_flags(kernel, pa // FRAME) == 0, "handed out: no longer cached"
    machine.call("free_page", pa)
    before = cache(kernel)
    assert (before.count, before.frames[-1]) == (16, pa // FRAME)
    assert [frame_flags(kernel, f) for f in before.frames] == [FRAME_PCP] * 16
    never_given = before.frames[0] * FRAME  # the refill's highest, at the bottom
    start = machine.symbol("agent_free_page")
    for bad in (pa, never_given):
        pmm = kernel.pmm_stats()
        mark = machine.mark()
        machine.call("agent_free_page", bad)
        [rec] = machine.records("PMM", since=mark)
        assert (rec["error"], rec.int("addr")) == ("double-free", bad)
        assert start <= rec.int("caller") < start + 64, "agent_free_page's call site"
        assert kernel.pmm_stats() == dict(pmm, double_frees=pmm["double_frees"] + 1,
                                          last_error_caller=rec.int("caller"))
        assert cache(kernel) == before, "each frame cached once"
    assert before.stats == grown(base, allocs=1, frees=1, refills=1, refilled=16)


@PCP_ON
def test_heap_trim_drains_this_cpus_cache(machine, kernel):
    """heap_trim gives the heap's spare pages back, and then the cache
    they went into: nothing it freed stays out of the PMM's reach."""
    base = emptied(machine, kernel)[0]
    used, _ = kernel.pmm_bitmaps()
    machine.call("free_page", machine.call("allocate_page"))
    assert cache(kernel).count == 16
    machine.call("heap_trim")
    c = cache(kernel)
    assert c.count == 0
    trimmed = c.stats["frees"] - base["frees"] - 1  # heap pages heap_trim freed into the cache
    assert c.stats == grown(base, allocs=1, frees=1 + trimmed, refills=1, refilled=16, drains=1,
                            drained=16 + trimmed)
    assert kernel.pmm_bitmaps()[0].value & ~used.value == 0, "every cached frame is back"


def test_off_by_default_the_pmm_alone(machine, kernel):
    """Without pcp=on no cache sees a frame: allocate_page and free_page
    are the bitmap's, exactly as before."""
    assert kernel.u32("pcp_enabled") & 0xFF == 0
    used, _ = kernel.pmm_bitmaps()
    before = kernel.pmm_stats()
    pa = machine.call("allocate_page")
    assert pa == used.first_clear() * FRAME
    assert kernel.pmm_bitmaps()[0].value == with_frames(used.value, [pa // FRAME])
    assert kernel.pmm_stats()["free_frames"] == before["free_frames"] - 1
    machine.call("free_page", pa)
    assert kernel.pmm_stats() == before
    for c in read_caches(kernel):
        assert (c.count, c.stats) == (0, NO_STATS), f"CPU {c.cpu}'s cache untouched"


@pytest.mark.machine(memory="16M", cmdline="pcp=on")
def test_exhaustion_takes_the_cached_frames_too(machine, kernel):
    """When the PMM has nothing left, an allocation drains every cache
    before it fails: agent_pmm_exhaust gets every free frame, the cached
    ones included, and only then NULL."""
    base = emptied(machine, kernel)[0]
    machine.call("free_page", machine.call("allocate_page"))  # 16 cached, 15 + 1
    cached = cache(kernel).count
    assert cached == 16
    free = kernel.pmm_stats()["free_frames"]
    assert machine.call("agent_pmm_exhaust") == free + cached
    assert (kernel.pmm_stats()["free_frames"], cache(kernel).count) == (0, 0)
    assert cache(kernel).stats == grown(base, allocs=17 + free, frees=1,
                                        refills=1 + -(-free // 16), refilled=16 + free)
    assert kernel.pmm_bitmaps()[0].clear_count() == 0


@pytest.mark.machine(memory="16M", cmdline="pcp=on")
def test_reclaim_drains_the_caches_so_a_user_frame_is_found(machine, kernel):
    """The OOM path: the PMM is empty, 16 frames sit in CPU 0's cache.
    reclaim_user_frame must drain them (reclaim's first step) and hand
    out the lowest of them, with no OOM victim."""
    emptied(machine, kernel)
    machine.call("agent_pmm_exhaust")
    chain, pa = [], kernel.u32("agent_pmm_chain")
    while pa and len(chain) < 16:
        chain.append(pa // FRAME)
        pa = machine.read_phys_u32(pa)
    for pfn in chain:
        machine.call("free_page", pfn * FRAME)  # into the cache: the PMM stays empty
    assert (kernel.pmm_stats()["free_frames"], cache(kernel).count) == (0, 16)
    before = kernel.read_struct("reclaim_stats", "reclaim_stats")
    pfn = machine.call("reclaim_user_frame")
    after = kernel.read_struct("reclaim_stats", "reclaim_stats")
    gained = {k: after[k] - before[k] for k in before}
    assert (gained["from_pcp"], gained["oom_kills"]) == (16, 0)
    assert cache(kernel).count == 0
    used, _ = kernel.pmm_bitmaps()
    assert pfn in chain and used.first_clear() > pfn, "the lowest free frame, a drained one"
    assert [f for f in chain if not used[f]] == [f for f in chain if f != pfn]
    others = gained["from_heap"] + gained["from_bcache"] + gained["from_pagecache"]
    assert kernel.pmm_stats()["free_frames"] == used.clear_count() == 15 + others


@pytest.mark.machine(smp=2, cmdline="pcp=on")
def test_each_cpu_has_its_own_cache_and_an_idle_cpu_drains_it(machine, kernel):
    """CPU 1 takes 3 frames through its own cache (a call IPI): stopped
    there, its cache holds the rest of its batch and CPU 0's is empty; once
    it idles, its cache is drained and only its 3 frames stay used."""
    bases = emptied(machine, kernel)
    used, _ = kernel.pmm_bitmaps()
    batch = lowest_free(used, 16)
    machine.break_at("pcp_test_hold", cpu=1)
    with pytest.raises(CallStopped) as stopped:
        machine.call("ipi_test_call_on", 1, machine.symbol("pcp_test_take"))
    assert stopped.value.stop.cpu == 1
    taken = [machine.read_u32(machine.symbol("pcp_test_taken") + 4 * i) for i in range(3)]
    assert taken == [f * FRAME for f in batch[:3]]
    cpu0, cpu1 = read_caches(kernel)[:2]
    assert (cpu1.count, cpu1.frames) == (13, batch[:2:-1])
    assert cpu1.stats == grown(bases[1], allocs=3, refills=1, refilled=16)
    assert (cpu0.count, cpu0.stats) == (0, bases[0]), "CPU 0's cache untouched"
    assert kernel.pmm_bitmaps()[0].value == with_frames(used.value, batch)
    machine.delete_breakpoints()
    machine.cont()  # the call returns; CPU 1 goes back to its idle loop
    assert machine.call("pcp_test_wait_drained", 1) == 0
    cpu0, cpu1 = read_caches(kernel)[:2]
    assert cpu1.stats == grown(bases[1], allocs=3, refills=1, refilled=16, drains=1, drained=13)
    assert (cpu0.count, cpu0.stats) == (0, bases[0])
    assert kernel.pmm_bitmaps()[0].value == with_frames(used.value, batch[:3])
    assert pcp_audit(kernel) == []


@pytest.mark.machine(smp=2, memory="16M", cmdline="pcp=on")
def test_a_starved_allocation_drains_another_cpus_cache(machine, kernel):
    """CPU 1 holds 13 cached frames and stays busy (not idle, so it keeps
    them); CPU 0 exhausts the PMM: once the PMM and CPU 0's cache are
    empty, its allocation drains CPU 1's cache and goes on with those
    frames, and only then NULL."""
    bases = emptied(machine, kernel)
    batch = lowest_free(kernel.pmm_bitmaps()[0], 16)
    assert machine.call("pcp_test_hold_on", 1, 0) == 1
    cpu1 = cache(kernel, 1)
    assert (cpu1.count, cpu1.frames) == (13, batch[:2:-1])
    free = kernel.pmm_stats()["free_frames"]
    assert machine.call("agent_pmm_exhaust") == free + 13
    cpu1 = cache(kernel, 1)
    assert (cpu1.count, cpu1.stats) == (0, grown(bases[1], allocs=3, refills=1, refilled=16,
                                                 drains=1, drained=13))
    assert (kernel.pmm_stats()["free_frames"], cache(kernel, 0).count) == (0, 0)
    machine.write_u32(machine.symbol("pcp_test_release"), 1)
    assert machine.call("pcp_test_wait_drained", 1) == 0


@pytest.mark.machine(smp=2, cmdline="pcp=on")
def test_a_busy_cpu_gives_its_cache_when_asked(machine, kernel):
    """CPU 1 holds 13 cached frames and stays busy, polling its requests as
    kernel code waiting with interrupts off does: pcp_drain_cpu(1) on CPU 0
    asks it by IPI_TLB, CPU 1 moves its frames to CPU 0 and acknowledges,
    and CPU 0 gives them to the PMM.  The drain counts in CPU 1's stats,
    the request is answered, and pcp_drain_lock is free again."""
    bases = emptied(machine, kernel)
    used, _ = kernel.pmm_bitmaps()
    batch = lowest_free(used, 16)
    assert machine.call("pcp_test_hold_on", 0, 0) == 0, "not this CPU: it would wait for itself"
    assert machine.call("pcp_test_hold_on", 1, 0) == 1
    ipis = int(machine.evaluate("cpus[1].ipis"), 0)
    asked = int(machine.evaluate("cpus[1].frames.drain_asked"), 0)
    assert machine.call("pcp_drain_cpu", 1) == 13
    cpu0, cpu1 = read_caches(kernel)[:2]
    assert (cpu1.count, cpu1.drain_asked, cpu1.drain_done) == (0, asked + 1, asked + 1)
    assert cpu1.stats == grown(bases[1], allocs=3, refills=1, refilled=16, drains=1, drained=13)
    assert (cpu0.count, cpu0.stats) == (0, bases[0]), "CPU 0 only passed them on"
    assert int(machine.evaluate("cpus[1].frames.drain_gave"), 0) == 13
    assert int(machine.evaluate("cpus[1].ipis"), 0) in (ipis, ipis + 1), \
        "one IPI at most (CPU 1 may have seen the request in its poll first)"
    assert kernel.pmm_bitmaps()[0].value == with_frames(used.value, batch[:3])
    assert machine.call("pcp_drain_cpu", 1) == 0, "nothing left: not even asked"
    assert int(machine.evaluate("cpus[1].frames.drain_asked"), 0) == asked + 1
    machine.write_u32(machine.symbol("pcp_test_release"), 1)
    assert pcp_audit(kernel) == []


@pytest.mark.machine(smp=2, cmdline="pcp=on")
def test_a_drain_asked_while_the_owner_gives_frames_back_waits_for_it(machine, kernel):
    """CPU 1 is in its idle drain, busy, its 13 frames on their way to the
    PMM but still in its cache, waiting for pmm_lock (held here by a ticket
    the test takes behind the kernel's back).  CPU 0's request reaches it in
    that wait and is not served there: serving would hand the same frames to
    CPU 0, and both would free them.  Once pmm_lock is free, CPU 1 finishes
    its drain and then answers with what is left: nothing, one drain in its
    stats, no frame freed twice."""
    bases = emptied(machine, kernel)
    used, _ = kernel.pmm_bitmaps()
    batch = lowest_free(used, 16)
    pmm_stats = kernel.pmm_stats()
    mark = machine.mark()
    machine.break_at("pcp_test_hold", cpu=1)
    with pytest.raises(CallStopped):
        machine.call("ipi_test_call_on", 1, machine.symbol("pcp_test_take"))
    lock = machine.symbol("pmm_lock")
    ticket = int(machine.evaluate("pmm_lock.next"), 0)
    machine.write(lock, ((ticket + 1) & 0xFFFF).to_bytes(2, "little"))  # a holder that never was
    machine.delete_breakpoints()
    machine.cont()  # the call returns; CPU 1's idle drain goes busy and waits for pmm_lock
    machine.break_at("tlb_serve", cpu=1)
    with pytest.raises(CallStopped) as stopped:
        machine.call("pcp_drain_cpu", 1)
    assert stopped.value.stop.cpu == 1, "CPU 1 found the request in its wait"
    cpu1 = cache(kernel, 1)
    assert (cpu1.count, cpu1.busy, cpu1.drain_asked - cpu1.drain_done) == (13, 1, 1)
    machine.delete_breakpoints()
    machine.cont(wait=False)
    time.sleep(0.5)  # CPU 1 serves the request now; the missing ticket keeps it waiting after
    machine.interrupt()
    cpu1 = cache(kernel, 1)
    assert (cpu1.count, cpu1.busy, cpu1.drain_asked - cpu1.drain_done) == (13, 1, 1), \
        "not served while busy"
    machine.write(lock + 2, ((ticket + 1) & 0xFFFF).to_bytes(2, "little"))  # that holder lets go
    machine.cont()  # the drain, then the answer, then CPU 0's pcp_drain_cpu returns
    assert machine.call("pcp_test_wait_drained", 1) == 0
    cpu1 = cache(kernel, 1)
    assert (cpu1.count, cpu1.busy, cpu1.drain_asked - cpu1.drain_done) == (0, 0, 0)
    assert int(machine.evaluate("cpus[1].frames.drain_gave"), 0) == 0
    assert cpu1.stats == grown(bases[1], allocs=3, refills=1, refilled=16, drains=1, drained=13)
    assert kernel.pmm_bitmaps()[0].value == with_frames(used.value, batch[:3])
    assert kernel.pmm_stats()["free_frames"] == pmm_stats["free_frames"] - 3
    assert machine.records("PMM", since=mark) == [], "no frame freed twice"


@pytest.mark.machine(smp=2, cmdline="pcp=on spin_limit=1048576")
def test_a_cpu_that_never_answers_a_drain_is_named_not_waited_for(machine, kernel):
    """CPU 1 holds 13 cached frames and waits with interrupts off polling
    nothing (deaf): CPU 0's drain waits spin_limit pauses, records which CPU
    did not answer and what it holds, and panics."""
    emptied(machine, kernel)
    assert machine.call("pcp_test_hold_on", 1, 1) == 1
    machine.break_at(machine.symbol("panic_exit"))
    with pytest.raises(CallStopped):
        machine.call("pcp_drain_cpu", 1, timeout=120)
    [record] = machine.records("PCP")
    assert (record["error"], record.int("cpu"), record.int("asker"), record.int("cached")) == (
        "no-drain", 1, 0, 13)
    [panic] = machine.records("PANIC")
    assert (panic["where"], panic.int("cpu")) == ("no_drain", 0)
    assert cache(kernel, 1).count == 13, "its frames stay where they were"
    machine.delete_breakpoints()
    with pytest.raises(GuestPanic):
        machine.cont()


def test_draining_a_cpu_that_does_not_exist_touches_nothing(machine, kernel):
    """pcp_drain_cpu refuses a CPU index past cpus[]: it returns 0 and
    writes nothing where cpus[CPU_MAX] (or cpus[-1]) would be."""
    size, base = kernel.sizeof("struct cpu"), machine.symbol("cpus")
    count = kernel.sizeof("cpus") // size
    beyond = [(base + count * size, size), (base - size, size)]
    before = [machine.read(addr, n) for addr, n in beyond]
    assert machine.call("pcp_drain_cpu", count) == 0
    assert machine.call("pcp_drain_cpu", 0xFFFFFFFF) == 0
    assert [machine.read(addr, n) for addr, n in beyond] == before


# bench_pmm_pairs_percpu: pcp_alloc + pcp_free through CPU 0's cache, neither
# refilling nor draining.  Exact per pair, not the budget of 60 (issue 20): no
# lock is taken, so one more instruction a pair is a fast path that grew.  The
# total may be a few over a multiple of the pairs: the measured loop's set-up
# is not quite the empty loop's that is subtracted.
PERCPU_PAIR_INSNS = 50
BENCH_PAIRS = 1000


@pytest.mark.machine(icount=True)
def test_a_cached_allocation_and_free_stay_cheap(machine):
    cost = machine.call_value("bench_pmm_pairs_percpu", BENCH_PAIRS)
    assert cost // BENCH_PAIRS == PERCPU_PAIR_INSNS, f"{cost / BENCH_PAIRS} per pair"


RACE_ROUNDS = 200
RACE_BURST = 72  # PCP_RACE_BURST


@pytest.mark.parametrize("count", [pytest.param(n, id=f"smp{n}", marks=pytest.mark.machine(
    smp=n, mttcg=True, memory="128M")) for n in (2, 4)])
def test_every_cpu_allocating_while_cpu0_drains_the_others_loses_nothing(machine, kernel, count):
    """pcp_test_race: on every CPU at once, for real in parallel (MTTCG),
    RACE_ROUNDS bursts of RACE_BURST frames through its own cache (refills,
    half drains), each frame stamped by its holder and read back; meanwhile
    CPU 0 asks every other CPU for its cache after each burst, so requests
    land in their refills' and drains' waits whenever the host runs the
    vCPUs side by side (not guaranteed on 2 busy cores), and at the end it
    empties every other cache.  No frame is held by two CPUs at once (every
    stamp reads back), every CPU's counters are exact, every frame is back
    in the PMM after a final drain, and no free was refused."""
    emptied(machine, kernel)
    before = read_caches(kernel)
    free = kernel.pmm_stats()["free_frames"]
    mark = machine.mark()
    assert machine.call_value("pcp_test_race", RACE_ROUNDS, timeout=120) == 0, "wrong stamps"
    assert int(machine.evaluate("pcp_test_race_cpus"), 0) == count
    assert int(machine.evaluate("pcp_test_race_checked"), 0) == count * RACE_ROUNDS * RACE_BURST
    after = read_caches(kernel)
    for cpu in range(count):
        grew = {k: after[cpu].stats[k] - before[cpu].stats[k] for k in before[cpu].stats}
        assert (grew["allocs"], grew["frees"]) == (RACE_ROUNDS * RACE_BURST,) * 2, (cpu, grew)
    for cpu in range(1, count):
        asked = after[cpu].drain_asked - before[cpu].drain_asked
        assert asked >= 1 and after[cpu].count == 0, f"CPU 0 emptied CPU {cpu}'s cache"
    machine.call("pcp_drain_all")
    assert kernel.pmm_stats()["free_frames"] == free
    # Again, shorter: a run starts from its own counts, not the last run's.
    assert machine.call_value("pcp_test_race", 2, timeout=60) == 0
    assert int(machine.evaluate("pcp_test_race_checked"), 0) == count * 2 * RACE_BURST
    machine.call("pcp_drain_all")
    assert kernel.pmm_stats()["free_frames"] == free
    assert machine.records("PMM", since=mark) == []
    assert pcp_audit(kernel) == []
