"""A masked PIC line can still fire: the 8259 raises IRQ 7 (or 15 on the
slave) as a spurious interrupt, and the local APIC has its own spurious
vector.  trap() must return from those without an EOI, never panic.  QEMU
cannot be made to raise a spurious IRQ, so the test hands the real trap()
a frame for each vector, as isr.S would build it for a kernel-mode trap."""

import pytest

from harness import GuestPanic

VEC_IRQ_BASE = 32
KERNEL_CS = 0x08


@pytest.mark.parametrize("vector", [VEC_IRQ_BASE + 1, VEC_IRQ_BASE + 7, VEC_IRQ_BASE + 15, 0xFF],
                         ids=["irq1", "irq7", "irq15", "apic-spurious"])
def test_a_spurious_interrupt_is_ignored(machine, kernel, vector):
    frame = kernel.layout("trapframe")
    tf = machine.call("kmalloc", frame.size)
    machine.write(tf, bytes(frame.size))
    machine.write_u32(tf + frame.fields["vector"].offset, vector)
    machine.write_u32(tf + frame.fields["cs"].offset, KERNEL_CS)
    mark = machine.mark()
    try:
        assert machine.call("trap", tf) is None, "trap() returned"
    except GuestPanic as panic:
        pytest.fail(f"vector {vector:#x} panicked the kernel: {panic.panic['msg']}")
    assert machine.records(since=mark) == [], "ignored: no exception or panic record"
    machine.call("kfree", tf)
