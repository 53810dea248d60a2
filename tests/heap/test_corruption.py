"""The corruption catalogue: each kind made through GDB writes or bad frees,
each detected with its own report line naming the caller, the heap still
usable (and consistent, checked after every test) afterwards."""

import pytest

STACK_TOP = "boot_stack_top"


def report(machine, mark):
    records = machine.records("HEAP", since=mark)
    assert len(records) == 1, records
    return records[0]


def caller_in(machine, rec, function):
    start = machine.symbol(function)
    assert start <= rec.int("caller") < start + 96, f"caller should be in {function}"


@pytest.mark.parametrize("size", [24, 200, 2048, 6000])
def test_overflow_into_the_red_zone(machine, kernel, size):
    p = machine.call("agent_kmalloc", size)
    machine.write(p + size, b"!")  # one byte past the end
    mark = machine.mark()
    machine.call("agent_kfree", p)
    rec = report(machine, mark)
    assert rec["error"] == "red-zone" and rec.int("addr") == p and rec.int("size") == size
    caller_in(machine, rec, "agent_kfree")
    stats = kernel.heap_stats()
    assert stats["quarantined"] == 1, "the block is taken out of service"
    assert machine.call("kmalloc", size) != p, "and never handed out again"


@pytest.mark.parametrize("size", [48, 1500, 5000])
def test_write_after_free(machine, kernel, size):
    p = machine.call("kmalloc", size)
    machine.call("kfree", p)
    machine.write(p + 8, b"\x00\x00\x00\x00")  # a dangling pointer writes
    mark = machine.mark()
    q = machine.call("agent_kmalloc", size)
    rec = report(machine, mark)
    assert rec["error"] == "use-after-free" and rec.int("addr") == p
    caller_in(machine, rec, "agent_kmalloc")
    assert q != p and q != 0, "a sound block is handed out instead"
    assert kernel.heap_stats()["quarantined"] == 1


@pytest.mark.parametrize("size", [16, 3000])
def test_double_free(machine, kernel, size):
    p = machine.call("kmalloc", size)
    machine.call("kfree", p)
    before = kernel.heap_stats()
    mark = machine.mark()
    machine.call("agent_kfree", p)
    rec = report(machine, mark)
    assert rec["error"] == "double-free" and rec.int("addr") == p
    caller_in(machine, rec, "agent_kfree")
    after = kernel.heap_stats()
    assert after["bytes_mapped"] == before["bytes_mapped"]
    assert after["live_blocks"] == before["live_blocks"]
    a, b = machine.call("kmalloc", size), machine.call("kmalloc", size)
    assert a != b, "the double free did not put the block on a free list twice"


@pytest.mark.parametrize("offset", [8, 16, 100])
@pytest.mark.parametrize("size", [256, 4000])
def test_interior_pointer(machine, size, offset):
    p = machine.call("kmalloc", size)
    mark = machine.mark()
    machine.call("agent_kfree", p + offset)
    rec = report(machine, mark)
    assert rec["error"] in ("interior-pointer", "invalid-pointer") and rec.int("addr") == p + offset
    assert rec["error"] == "interior-pointer" or offset % 16
    machine.write(p, b"still mine")
    machine.call("kfree", p)  # the real block is intact and frees normally


def test_free_of_a_kernel_stack_address(machine):
    mark = machine.mark()
    machine.call("agent_kfree_stack_address")
    rec = report(machine, mark)
    assert rec["error"] == "invalid-pointer"
    stack_top = machine.symbol(STACK_TOP)
    assert stack_top - 0x4000 <= rec.int("addr") < stack_top


@pytest.mark.parametrize("where", ["agent_scratch", "kmain", 0xF3FF0000, 0xFE000000])
def test_free_of_pointers_the_heap_never_returned(machine, where):
    addr = machine.symbol(where) if isinstance(where, str) else where
    mark = machine.mark()
    machine.call("agent_kfree", addr)
    rec = report(machine, mark)
    assert rec["error"] == "invalid-pointer" and rec.int("addr") == addr
    assert sorted(rec.fields) == ["addr", "caller", "error"], "no size: the heap never sized it"
    assert machine.call("agent_nop", 1) == 1


def test_corrupted_header_is_quarantined(machine, kernel):
    p = machine.call("kmalloc", 64)
    machine.write(p - 16, b"\xde\xad\xbe\xef")  # the canary
    mark = machine.mark()
    machine.call("agent_kfree", p)
    assert report(machine, mark)["error"] == "header-corrupt"
    assert kernel.heap_stats()["quarantined"] == 1


def test_corrupted_free_list_header_is_survived(machine, kernel):
    """A free slot's header (its free-list link) overwritten: the allocator
    must not follow the link; it rebuilds the slab's list from the canaries."""
    a = machine.call("kmalloc", 64)
    b = machine.call("kmalloc", 64)
    machine.call("kfree", b)
    machine.write(b - 16, b"\x00" * 8)  # canary and link of the free slot
    mark = machine.mark()
    c = machine.call("agent_kmalloc", 64)
    assert report(machine, mark)["error"] == "header-corrupt"
    assert c not in (0, a, b)


def test_every_error_kind_is_counted(machine, kernel):
    p = machine.call("kmalloc", 32)
    machine.call("kfree", p)
    machine.call("kfree", p)
    machine.call("kfree", machine.symbol("agent_scratch"))
    counts = kernel.heap_error_counts()
    assert counts["double-free"] == 1 and counts["invalid-pointer"] == 1
    assert sum(counts.values()) == 2
