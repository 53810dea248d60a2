"""Memory pools with a reserve, judged from outside: the page-table pool's
reserve is a chain of frames in guest RAM; with the PMM exhausted
(agent_pmm_exhaust), a user fault that needs a new page table takes the
reserve's first frame as that table and completes (the page is present in
the walker, the audit is clean), the POOL record says so, the process then
ends and its teardown returns every frame, refilling the reserve first; a
pointer the pool never handed out is refused with a record."""

import pytest

from harness import CallStopped
from harness.targets.mmverify.invariants import violations
from harness.targets.mmverify.kernel import Kernel
from harness.targets.mmverify.pools import pool_reserve, pools
from tests.process.pmm_budget import give_back

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

EINVAL = -22
PAGE = 4096
RESERVE = 4  # vmm.h's VMM_TABLE_RESERVE


def test_the_page_table_pool_holds_its_reserve_from_boot(machine, kernel):
    created = [r for r in machine.records("POOL") if r["event"] == "create"]
    assert [(r["name"], r.int("object"), r.int("min"), r.int("reserve")) for r in created] == \
        [("pagetables", PAGE, RESERVE, RESERVE)]
    pool = pools(kernel)["pagetables"]
    assert (pool["reserve_level"], pool["reserve_hits"], pool["failures"]) == (RESERVE, 0, 0)
    chain = pool_reserve(kernel, pool)
    assert len(chain) == RESERVE and len(set(chain)) == RESERVE
    used, reserved = kernel.pmm_bitmaps()
    aspace = machine.address_space()
    for va in chain:
        assert va % PAGE == 0 and va >= kernel.kernel_base
        pa = va - kernel.kernel_base
        assert aspace.translate(va).pa == pa, "a frame of the direct map"
        assert used[pa // PAGE] and not reserved[pa // PAGE], \
            "allocated from the PMM, held by the pool"


def table_of(machine, kernel, cr3, va):
    """The physical address of the page table that maps va in cr3's space."""
    if kernel.paging_mode() == "pae":
        pdpte = int.from_bytes(machine.read_phys(cr3 + (va >> 30) * 8, 8), "little")
        pde = int.from_bytes(machine.read_phys((pdpte & ~0xFFF) + (va >> 21 & 511) * 8, 8),
                             "little")
        return pde & 0xFFFFF000 if pde & 1 else None
    pde = int.from_bytes(machine.read_phys(cr3 + (va >> 22) * 4, 4), "little")
    return pde & ~0xFFF if pde & 1 else None


def test_a_fault_needing_a_page_table_completes_on_the_reserve(machine, userland, kernel):
    machine.call("heap_trim")
    free_before = kernel.pmm_stats()["free_frames"]
    pid = userland.spawn("demand", "1")
    proc = userland.process(pid)
    heap, cr3 = proc.heap_base, proc.cr3
    assert table_of(machine, kernel, cr3, heap) is None, "the heap's range has no table yet"
    before = pools(kernel)["pagetables"]
    chain = pool_reserve(kernel, before)
    head = chain[0]
    assert machine.call("agent_pmm_exhaust") > 0
    # Two frames back: reclaim's first pass takes one (for swap's slot map,
    # kcalloc'd when the clock first runs: tests/process/test_out_of_frames.py),
    # the zeroed page the other, and no frame is left for the table.
    give_back(machine, 2)
    mark = machine.mark()
    machine.break_at(userland.symbol("demand", "checkpoint"), condition=f"$cr3 == {cr3:#x}")
    with pytest.raises(CallStopped):
        machine.call("sched_run")  # checkpoint(0): before the touch
    machine.cont()  # checkpoint(1): the page was touched
    assert kernel.pmm_stats()["free_frames"] == 0, "the PMM had nothing for the table"
    assert table_of(machine, kernel, cr3, heap) == head - kernel.kernel_base, \
        "the table is the reserve's first frame"
    assert userland.address_space(pid).translate(heap).pa is not None, "the page is present"
    assert violations(Kernel(machine)) == [], "every frame accounted for"
    after = pools(kernel)["pagetables"]
    assert (after["reserve_level"], after["reserve_hits"], after["in_use"], after["failures"]) \
        == (RESERVE - 1, 1, before["in_use"] + 1, 0)
    assert pool_reserve(kernel, after) == chain[1:], "the rest of the reserve"
    assert [(r["event"], r.int("reserve"), r.int("in_use"))
            for r in machine.records("POOL", since=mark)] == \
        [("reserve-use", RESERVE - 1, before["in_use"] + 1)]
    machine.cont()  # runs to the end: exit and teardown, the PMM still empty
    assert userland.history()[pid].status == 0
    done = pools(kernel)["pagetables"]
    assert (done["reserve_level"], done["refills"], done["in_use"]) == \
        (RESERVE, before["refills"] + 1, 0), "every table freed, the first refilling the reserve"
    assert [r["event"] for r in machine.records("POOL", since=mark)] == ["reserve-use"]
    machine.call("agent_pmm_release")
    machine.call("heap_trim")
    assert kernel.pmm_stats()["free_frames"] == free_before, "every frame came back"


def test_without_the_reserve_the_fault_fails_as_before(machine, userland, kernel):
    """The reserve drained first (taken through pool_alloc from GDB): the same
    fault has no table, the process is killed out-of-memory, and the drained
    frames, given back, refill the reserve."""
    pid = userland.spawn("demand", "1")
    heap = userland.process(pid).heap_base
    pool = kernel.u32("vmm_table_pool")
    assert machine.call("agent_pmm_exhaust") > 0
    drained = [machine.call("pool_alloc", pool) for _ in range(RESERVE)]
    assert all(drained)
    give_back(machine, 2)
    mark = machine.mark()
    result = userland.run()[pid]
    assert (result.killed, result.reason, result.addr) == (True, "out-of-memory", heap)
    assert [r["event"] for r in machine.records("POOL", since=mark)] == ["exhausted"]
    assert pools(kernel)["pagetables"]["failures"] == 1
    for obj in drained:
        assert machine.call("pool_free", pool, obj) == 0
    refilled = pools(kernel)["pagetables"]
    assert (refilled["reserve_level"], refilled["in_use"]) == (RESERVE, 0)
    machine.call("agent_pmm_release")


def test_pool_free_refuses_what_the_pool_did_not_hand_out(machine, kernel):
    pool = kernel.u32("vmm_table_pool")
    frame = machine.call("alloc_kernel_frame")  # a direct-mapped frame, not the pool's
    before = pools(kernel)["pagetables"]
    mark = machine.mark()
    foreign = [kernel.kernel_base + frame, kernel.kernel_base + frame + 16, before["reserve"]]
    for addr in foreign:
        assert machine.call("pool_free", pool, addr) == EINVAL
    records = machine.records("POOL", since=mark)
    assert [(r["name"], r["error"], r.int("addr")) for r in records] == \
        [("pagetables", "foreign", a) for a in foreign]
    after = pools(kernel)["pagetables"]
    assert after["foreign_frees"] == before["foreign_frees"] + len(foreign)
    assert (after["reserve_level"], after["in_use"]) == (before["reserve_level"],
                                                         before["in_use"])
    obj = machine.call("pool_alloc", pool)
    assert machine.call("pool_free", pool, obj) == 0
    assert machine.call("pool_free", pool, obj) == EINVAL, "a second free is foreign too"
    machine.call("agent_free_page", frame)


def test_a_small_object_pool_keeps_its_reserve_and_refills_it(machine, kernel):
    scratch = machine.symbol("agent_scratch")
    machine.write(scratch, b"small\0")
    pool = machine.call("pool_create", scratch, 100, 2)
    assert pool == machine.symbol("pool_table") + kernel.sizeof("struct pool")
    small = pools(kernel)["small"]
    assert (small["object_size"], small["reserve_level"], small["in_use"]) == (100, 2, 0)
    objs = [machine.call("pool_alloc", pool) for _ in range(3)]  # the heap serves all three
    assert len(set(objs)) == 3 and all(machine.read(o, 100) == bytes(100) for o in objs)
    small = pools(kernel)["small"]
    assert (small["reserve_level"], small["in_use"], small["reserve_hits"]) == (2, 3, 0)
    live = machine.call_value("kmalloc", 100)
    assert machine.call("pool_free", pool, live) == EINVAL, "a heap block, not the pool's"
    for o in objs:
        assert machine.call("pool_free", pool, o) == 0
    small = pools(kernel)["small"]
    assert (small["reserve_level"], small["in_use"], small["refills"]) == (2, 0, 0), \
        "the reserve was full: every object went back to the heap"
    machine.call("kfree", live)


ENOMEM = -12


def test_a_mapping_outside_a_fault_never_takes_the_reserve(machine, userland, kernel):
    """vmm_map_pfn called from the kernel (no fault being resolved) into a
    range with no page table, the PMM exhausted: -ENOMEM with the VMM's
    refusal record, the reserve untouched, one failure counted."""
    userland.spawn("hello")
    p = machine.symbol("proc_table")
    directory = machine.read_u32(kernel.address_space_field(p, "dir"))
    before = pools(kernel)["pagetables"]
    assert machine.call("agent_pmm_exhaust") > 0
    mark = machine.mark()
    va, frame = 0x40000000, machine.read_u32(machine.symbol("agent_pmm_chain")) >> 12
    assert machine.call("vmm_map_pfn", directory, va, frame, 0x6) == ENOMEM  # user, writable
    assert [(r["error"], r["op"], r.int("va")) for r in machine.records("VMM", since=mark)] == \
        [("no-frame-for-table", "map", va)]
    assert machine.records("POOL", since=mark) == []
    after = pools(kernel)["pagetables"]
    assert (after["reserve_level"], after["reserve_hits"], after["failures"]) == \
        (RESERVE, 0, before["failures"] + 1)
    machine.call("agent_pmm_release")
    userland.run()


def user_tables(machine, kernel, cr3) -> set[int]:
    """The physical addresses of every page table in cr3's user half, read
    from guest RAM (PAE: through the three user page directories)."""
    user_top = kernel.kernel_base
    if kernel.paging_mode() == "pae":
        directories = [int.from_bytes(machine.read_phys(cr3 + i * 8, 8), "little")
                       for i in range(user_top >> 30)]
        width, pdes = 8, [(d & 0xFFFFF000, 512) for d in directories if d & 1]
    else:
        width, pdes = 4, [(cr3, user_top >> 22)]
    tables = set()
    for directory, count in pdes:
        raw = machine.read_phys(directory, count * width)
        for i in range(count):
            pde = int.from_bytes(raw[i * width:(i + 1) * width], "little")
            if pde & 1:
                tables.add(pde & 0xFFFFF000)
    return tables


def test_a_used_reserve_is_topped_up_by_tables_the_pmm_serves(machine, userland, kernel):
    """The reserve used with the PMM exhausted (two objects taken through
    pool_alloc from GDB, the call a fault makes), then the PMM back and no
    table freed: each table a new process's spawn gets from the PMM tops the
    reserve up by one frame, never reclaiming, until it is whole again."""
    pool = kernel.u32("vmm_table_pool")
    assert machine.call("agent_pmm_exhaust") > 0
    taken = [machine.call("pool_alloc", pool) for _ in range(2)]
    machine.call("agent_pmm_release")
    before = pools(kernel)["pagetables"]
    assert (before["reserve_level"], before["reserve_hits"]) == (RESERVE - 2, 2)
    pid = userland.spawn("hello")
    tables = user_tables(machine, kernel, userland.process(pid).cr3)
    assert len(tables) >= 2, "spawn maps the image and the stack: two tables at least"
    after = pools(kernel)["pagetables"]
    assert (after["reserve_level"], after["top_ups"], after["refills"], after["in_use"]) == \
        (RESERVE, before["top_ups"] + 2, before["refills"], before["in_use"] + len(tables)), \
        "topped up by the first two tables, nothing freed"
    chain = pool_reserve(kernel, after)
    assert len(set(chain)) == RESERVE
    assert not {va - kernel.kernel_base for va in chain} & tables, "no table is in the reserve"
    for obj in taken:
        assert machine.call("pool_free", pool, obj) == 0  # the reserve is full: to the PMM
    userland.run()
    done = pools(kernel)["pagetables"]
    assert (done["reserve_level"], done["in_use"]) == (RESERVE, 0)


@pytest.mark.machine(modules=["user/*"], cmdline="aslr=off fault_log=all")
def test_a_fault_puts_the_reserve_permission_back_as_it_found_it(machine, userland, kernel):
    """A fault taken while the permission is already given (as inside an
    outer fault's uvm_fault; written from GDB here) leaves it given: the
    handler saves and restores vmm_table_may_use_reserve, it does not clear
    it for the rest of the outer fault."""
    flag = machine.symbol("vmm_table_may_use_reserve")
    pid = userland.spawn("demand", "1")
    machine.write(flag, b"\x01")
    mark = machine.mark()
    assert userland.run()[pid].status == 0
    faults = [(r["reason"], r["action"]) for r in machine.records("PF", since=mark)
              if r.int("pid") == pid]
    assert ("demand-page", "resolved") in faults and all(a == "resolved" for _, a in faults)
    assert machine.read(flag, 1) == b"\x01"
    machine.write(flag, b"\x00")


def test_a_table_the_pmm_lacks_is_reclaimed_for_before_the_reserve_is_touched(machine, kernel):
    """The PMM exhausted, but the heap holds pages only for speed (eight
    6000-byte blocks parked on a quick-fit list): pool_alloc reclaims them
    and serves the table from the PMM; the reserve stays whole and unused."""
    size, parked = 6000, 8
    blocks = [machine.call("kmalloc", size) for _ in range(parked)]
    end = machine.call("kmalloc", 100_000)  # keeps the run from merging with the top
    for _ in range(3):  # the heap learns a size at its 4th free
        machine.call("kfree", machine.call("kmalloc", size))
    for p in blocks:
        machine.call("kfree", p)
    pool = kernel.u32("vmm_table_pool")
    before = pools(kernel)["pagetables"]
    assert machine.call("agent_pmm_exhaust", timeout=120) > 0
    table = machine.call("pool_alloc", pool)
    after = pools(kernel)["pagetables"]
    assert table, "reclaim found the parked pages"
    assert (after["reserve_level"], after["reserve_hits"], after["in_use"]) == \
        (RESERVE, before["reserve_hits"], before["in_use"] + 1)
    assert table not in pool_reserve(kernel, after)
    assert kernel.read_struct("reclaim_stats", "reclaim_stats")["from_heap"] > 0
    assert machine.call("pool_free", pool, table) == 0
    machine.call("agent_pmm_release", timeout=120)
    machine.call("kfree", end)
