"""TLB shootdown in the kernel half (kernel/tlb.c): a kmap slot reused
while another CPU still caches it.  CPU 0 maps frame A in a slot, CPU n
reads through it (its TLB now holds slot -> A), CPU 0 unmaps the slot and
maps frame B there, and CPU n reads again.  The frames' contents are
written from the host into guest RAM; what each read saw the guest keeps
in tlb_test_seen, compared with them.  With the shootdown CPU n reads B;
with `tlb_shootdown=off` it reads A through the stale entry, the proof the
test can see the bug (QEMU keeps each vCPU's TLB until that vCPU flushes
it, as hardware does).  The statistics are read from every CPU's struct
cpu: exact counts of what the run sent and served."""

import pytest

from harness import CallStopped, GuestPanic

A, B = 0xAAAA0001, 0xBBBB0002
KMAP_BASE = 0xFFC00000  # memlayout.h: the kmap slots, the first free one used


def machines(*counts, cmdline=""):
    return [pytest.param(n, id=f"smp{n}" + (f"-{cmdline.replace('=', '-')}" if cmdline else ""),
                         marks=pytest.mark.machine(smp=n, cmdline=cmdline))
            for n in counts]


def frames(machine):
    """Two frames, A's and B's words written from the host."""
    a, b = machine.call_value("allocate_page"), machine.call_value("allocate_page")
    assert a and b and a != b
    machine.write_phys_u32(a, A)
    machine.write_phys_u32(b, B)
    return a, b


def stats(machine, cpu):
    fields = ("shootdowns", "ipis", "pages", "full", "local_only", "served")
    return {f: int(machine.evaluate(f"cpus[{cpu}].tlb_stats.{f}"), 0) for f in fields}


def seen(kernel):
    """The words CPU n read through the slot, before and after its reuse."""
    raw = kernel.read_kernel(kernel.m.symbol("tlb_test_seen"), 8)
    return [int.from_bytes(raw[i:i + 4], "little") for i in (0, 4)]


def delta(after, before):
    return {k: after[k] - before[k] for k in after}


@pytest.mark.parametrize("count", machines(2, 4))
def test_a_reused_kmap_slot_reads_the_new_frame_on_every_cpu(machine, kernel, count):
    a, b = frames(machine)
    for reader in range(1, count):
        before = [stats(machine, i) for i in range(count)]
        assert machine.call_value("tlb_test_kmap_reuse", reader, a, b) == 1, "the slot was reused"
        assert seen(kernel) == [A, B], f"CPU {reader} read the old frame through the slot"
        after = [stats(machine, i) for i in range(count)]
        # Two kunmaps (the reuse's and the cleanup's), each one page to every other CPU.
        assert delta(after[0], before[0]) == {"shootdowns": 2, "ipis": 2 * (count - 1),
                                              "pages": 2, "full": 0, "local_only": 0,
                                              "served": 0}
        for i in range(1, count):
            assert delta(after[i], before[i]) == {"shootdowns": 0, "ipis": 0, "pages": 0,
                                                  "full": 0, "local_only": 0, "served": 2}


@pytest.mark.parametrize("count", machines(2, cmdline="tlb_shootdown=off"))
def test_without_the_shootdown_the_other_cpu_reads_the_old_frame(machine, kernel, count):
    a, b = frames(machine)
    before = stats(machine, 0)
    assert machine.call_value("tlb_test_kmap_reuse", 1, a, b) == 1
    assert seen(kernel) == [A, A], "CPU 1's TLB still maps the slot to A"
    assert delta(stats(machine, 0), before) == {"shootdowns": 0, "ipis": 0, "pages": 0,
                                                "full": 0, "local_only": 2, "served": 0}
    assert stats(machine, 1)["served"] == 0


@pytest.mark.parametrize("count", machines(2))
def test_a_cpu_spinning_on_a_lock_serves_the_shootdown(machine, kernel, count):
    """CPU 1 waits for a lock CPU 0 holds, interrupts off (no IPI reaches
    it), while CPU 0 reuses the slot: the lock's wait serves the mailbox,
    so CPU 0 gets its ack, and CPU 1, once it has the lock, reads B."""
    a, b = frames(machine)
    before = stats(machine, 1)["served"]
    assert machine.call_value("tlb_test_reuse_while_spinning", 1, a, b, timeout=60) == 1
    assert seen(kernel) == [A, B]
    assert stats(machine, 1)["served"] - before == 2
    assert machine.records("TLB") == []
    assert machine.records("LOCK") == []


@pytest.mark.machine(smp=1)
def test_with_one_cpu_a_kernel_unmap_flushes_only_here(machine, kernel):
    """No other CPU online: the reuse flushes this CPU's TLB alone, and
    CPU 0's own reads see A, then B."""
    a, b = frames(machine)
    before = stats(machine, 0)
    assert machine.call_value("tlb_test_kmap_reuse", 0, a, b) == 1
    assert seen(kernel) == [A, B]
    assert delta(stats(machine, 0), before) == {"shootdowns": 0, "ipis": 0, "pages": 0,
                                                "full": 0, "local_only": 2, "served": 0}


@pytest.mark.parametrize("count", machines(2))
def test_a_cpu_that_never_flushes_is_named_not_waited_for(machine, kernel, count):
    """CPU 1 halted with interrupts off (no IPI wakes it, it polls nothing):
    CPU 0's shootdown waits TLB_ACK_SPINS pauses, then records which CPU did
    not answer for which page, and panics; the frame is never reused."""
    machine.break_at(machine.symbol("panic_exit"))
    with pytest.raises(CallStopped):
        machine.call("tlb_test_no_ack", 1, timeout=120)
    [record] = machine.records("TLB")
    assert (record["error"], record.int("cpu"), record.int("pages"), record.int("sender")) == (
        "no-ack", 1, 1, 0)
    assert record.int("va") == KMAP_BASE, "the first kmap slot"
    [panic] = machine.records("PANIC")
    assert (panic["where"], panic.int("cpu")) == ("no_ack", 0)
    assert int(machine.evaluate("cpus[1].tlb[0].done"), 0) + 1 == \
        int(machine.evaluate("cpus[1].tlb[0].sent"), 0), "one request, never served"
    machine.delete_breakpoints()
    with pytest.raises(GuestPanic):
        machine.cont()


@pytest.mark.parametrize("count", machines(2))
def test_a_long_range_is_one_whole_flush_on_the_other_cpu(machine, kernel, count):
    """33 pages ending at a slot CPU 1 still maps to A (remapped to B with
    the shootdown off): the whole flush (CR4.PGE toggled) drops it, so CPU 1
    reads B; the kunmaps around it count as one-page shootdowns."""
    a, b = frames(machine)
    before = stats(machine, 0)
    assert machine.call_value("tlb_test_full_flush", 1, a, b) == 1
    assert seen(kernel) == [A, B], "CPU 1 kept the slot's old entry"
    assert delta(stats(machine, 0), before) == {"shootdowns": 2, "ipis": 2, "pages": 33 + 1,
                                                "full": 1, "local_only": 1, "served": 0}
