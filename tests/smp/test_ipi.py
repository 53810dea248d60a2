"""Interprocessor interrupts (kernel/ipi.c): CPU 0 pings every AP through
its local APIC, one at a time and by broadcast, and each AP counts what it
takes in its struct cpu.  The counts are read from guest RAM afterwards and
must be exact: every ping taken once, none lost, none taken twice, none by
the sender; and QEMU's own view of each local APIC must show nothing left
in service (each handler sent its EOI) or pending."""

import re

import pytest

PINGS = 25


def machines(*counts, icount=False):
    return [pytest.param(n, id=f"smp{n}" + ("-icount" if icount else ""),
                         marks=pytest.mark.machine(smp=n, icount=icount)) for n in counts]


AP_AT_RESET = {"eip": 0xFFF0, "cs": 0xF000, "cr0": 0x60000010}


def ipi_counts(kernel, machine, count):
    size = kernel.sizeof("struct cpu")
    base = machine.symbol("cpus")
    return [kernel.read_struct("cpu", base + i * size)["ipis"] for i in range(count)]


def ipis_since(kernel, machine, before):
    """Each CPU's IPIs since ``before`` (the boot's own: smp_init's kunmap of
    the trampoline's window shoots it down on every AP, one IPI_TLB each)."""
    return [n - b for n, b in zip(ipi_counts(kernel, machine, len(before)), before, strict=True)]


def lapic_vectors(machine, apic_id):
    """(ISR, IRR) of one local APIC, as QEMU's ``info lapic`` lists them."""
    text = machine.monitor(f"info lapic {apic_id}")
    found = dict(re.findall(r"^(ISR|IRR)\s+(.*)$", text, re.M))
    return found["ISR"].strip(), found["IRR"].strip()


@pytest.mark.parametrize("count", machines(2, 4) + machines(2, 4, icount=True))
def test_every_ap_takes_each_ping_exactly_once(machine, kernel, count):
    before = ipi_counts(kernel, machine, count)
    assert before == [0] + [1] * (count - 1), "the boot's one shootdown, on every AP"
    aps = count - 1
    assert machine.call_value("ipi_ping", PINGS) == PINGS * aps
    assert ipis_since(kernel, machine, before) == [0] + [PINGS] * aps
    assert machine.call_value("ipi_ping_broadcast", PINGS) == PINGS * aps
    assert ipis_since(kernel, machine, before) == [0] + [2 * PINGS] * aps
    for i in range(count):
        assert lapic_vectors(machine, i) == ("(none)", "(none)"), f"CPU {i}'s local APIC"


@pytest.mark.machine(smp=2)
def test_an_ipi_is_sent_fixed_and_asserted_to_its_cpu(machine):
    """The ICR CPU 0 last wrote, as QEMU's own local APIC shows it: fixed
    delivery, edge, level assert (the SDM asks for it in every mode but INIT
    de-assert; P6-family APICs need it), physical destination CPU 1, and
    IPI_CALL's vector.  QEMU delivers without the level bit, so only the
    register can tell."""
    assert machine.call_value("ipi_ping", 1) == 1
    text = machine.monitor("info lapic 0")
    ipi_call = int(machine.evaluate("(int)IPI_CALL"), 0)
    assert re.search(r"^ICR\s+(.*)$", text, re.M)[1].strip() == \
        f"{0x4000 | ipi_call:#010x} physical edge assert no-shorthand"
    assert re.search(r"^ICR2\s+(.*)$", text, re.M)[1].strip() == "0x01000000 cpu 1 (APIC ID)"


@pytest.mark.machine(smp=2, cmdline="smp_start=off")
def test_a_cpu_that_never_started_is_pinged_by_no_one(machine, kernel):
    """ipi_send refuses a CPU that is not online; the broadcast reaches it
    (the APIC's shorthand) but a CPU waiting for its SIPI takes nothing:
    QEMU still shows it where reset left it, and no ack is awaited."""
    assert machine.call_value("ipi_ping", PINGS) == 0
    assert machine.call_value("ipi_ping_broadcast", PINGS) == 0
    assert ipi_counts(kernel, machine, 2) == [0, 0]
    [_, ap] = machine.cpus()
    assert ap.halted and ap.registers(*AP_AT_RESET) == AP_AT_RESET


@pytest.mark.parametrize("count", machines(4) + machines(4, icount=True))
def test_a_call_runs_on_the_cpu_it_is_sent_to_before_the_ack(machine, kernel, count):
    """IPI_CALL runs the target's `call` before it acks: when
    ipi_test_call_on returns, the function has run, on that CPU (it notes
    this_cpu()'s index), and the call slot is empty again."""
    note = machine.symbol("ipi_test_note_cpu")
    before = ipi_counts(kernel, machine, count)
    for cpu in (2, 1, 3, 0):
        assert machine.call_value("ipi_test_call_on", cpu, note) == 1
        assert kernel.u32("ipi_test_ran_on") == cpu
    assert [int(machine.evaluate(f"(unsigned int) cpus[{i}].call"), 0)
            for i in range(count)] == [0] * count
    assert ipis_since(kernel, machine, before) == [0, 1, 1, 1], "CPU 0 ran its own directly"
    assert machine.call_value("ipi_test_call_on", count, note) == 0, "no such CPU online"
