"""The harness's MADT decoder and what the kernel must conclude from a MADT
(harness.decode.acpi: parse_madt, found_cpus), on tables built here byte by
byte (no QEMU): QEMU's layout, spares, every refusal and its order, the
clip at CPU_MAX."""

import struct

import pytest

from harness.decode import acpi

LAPIC, IOAPIC = 0xFEE00000, 0xFEC00000


def madt(*entries: bytes, lapic: int = LAPIC) -> bytes:
    """A MADT with these entries, its length and checksum right."""
    body = struct.pack("<II", lapic, 1) + b"".join(entries)
    raw = struct.pack("<4sIBB6s8sIII", b"APIC", acpi.HEADER_SIZE + len(body), 1, 0,
                      b"BOCHS ", b"BXPC    ", 1, 0, 1) + body
    return acpi.fix_checksum(raw)


def override(source: int, gsi: int, flags: int = 0) -> bytes:
    return struct.pack("<BBBBIH", 2, 10, 0, source, gsi, flags)  # type 2, 10 bytes


NMI = struct.pack("<BBBHB", 4, 6, 0xFF, 0, 1)  # type 4, LINT1 of every CPU


def qemu_madt(cpus: int, possible: int | None = None) -> bytes:
    """What QEMU builds for -smp cpus,maxcpus=possible (qboot and SeaBIOS
    copy it as is): one entry per possible CPU, spares disabled."""
    possible = possible or cpus
    return madt(*(acpi.lapic_entry(i, int(i < cpus)) for i in range(possible)),
                acpi.ioapic_entry(0, IOAPIC), override(0, 2), override(5, 5, 0xD),
                override(9, 9, 0xD), NMI)


def refusal(table: bytes, bsp: int = 0) -> str:
    with pytest.raises(acpi.TableRefused) as e:
        acpi.found_cpus("madt", acpi.parse_madt(table), bsp)
    return e.value.kind


def test_qemus_table_is_decoded_entry_by_entry():
    t = acpi.parse_madt(qemu_madt(4))
    assert t.lapic_base == LAPIC
    assert t.cpus == tuple(acpi.ListedCpu(i, True, acpi.MADT_HEADER_SIZE + 8 * i)
                           for i in range(4))
    assert t.ioapics == (IOAPIC,)


def test_the_kernel_finds_every_enabled_cpu_in_table_order():
    found = acpi.found_cpus("madt", acpi.parse_madt(qemu_madt(4)), 0)
    assert found.records() == [
        {"source": "madt", "cpus": "4", "listed": "4", "lapic": "0xfee00000",
         "ioapic": "0xfec00000", "bsp": "0"},
        {"cpu": "0", "apic": "0"}, {"cpu": "1", "apic": "1"},
        {"cpu": "2", "apic": "2"}, {"cpu": "3", "apic": "3"}]


def test_maxcpus_spares_are_listed_but_not_cpus():
    found = acpi.found_cpus("madt", acpi.parse_madt(qemu_madt(2, 4)), 0)
    assert (found.apic_ids, found.listed, found.enabled) == ((0, 1), 4, 2)


def test_online_capable_alone_is_not_a_cpu_there_now():
    t = acpi.parse_madt(madt(acpi.lapic_entry(0), acpi.lapic_entry(1, flags=0x2)))
    assert acpi.found_cpus("madt", t, 0).apic_ids == (0,)


def test_the_bsp_need_not_come_first():
    t = acpi.parse_madt(madt(acpi.lapic_entry(4), acpi.lapic_entry(7), acpi.lapic_entry(2)))
    found = acpi.found_cpus("madt", t, 7)
    assert (found.apic_ids, found.bsp) == ((4, 7, 2), 7)


def test_no_ioapic_is_zero_and_the_first_nonzero_one_counts():
    assert acpi.found_cpus("madt", acpi.parse_madt(madt(acpi.lapic_entry(0))), 0).ioapic_base == 0
    t = madt(acpi.lapic_entry(0), acpi.ioapic_entry(0, 0), acpi.ioapic_entry(1, 0xFEC01000),
             acpi.ioapic_entry(2, IOAPIC))
    assert acpi.found_cpus("madt", acpi.parse_madt(t), 0).ioapic_base == 0xFEC01000


def test_more_than_cpu_max_are_clipped_with_a_record():
    found = acpi.found_cpus("madt", acpi.parse_madt(qemu_madt(10)), 0)
    assert found.apic_ids == tuple(range(8))
    assert found.records()[0] == {"error": "too-many", "table": "APIC", "enabled": "10",
                                  "kept": "8"}
    assert found.records()[1]["cpus"] == "8" and found.records()[1]["listed"] == "10"


def test_a_clipped_bsp_takes_the_last_place():
    found = acpi.found_cpus("madt", acpi.parse_madt(qemu_madt(10)), 9)
    assert found.apic_ids == (0, 1, 2, 3, 4, 5, 6, 9)


def test_a_table_shorter_than_its_header_is_truncated():
    t = madt(acpi.lapic_entry(0))
    assert refusal(acpi.fix_checksum(t[:4] + struct.pack("<I", 40) + t[8:40])) == "truncated"


@pytest.mark.parametrize("size", [0, 1])
def test_an_entry_shorter_than_two_bytes_is_refused(size):
    assert refusal(madt(acpi.lapic_entry(0), bytes([9, size]))) == "entry-length"


@pytest.mark.parametrize(("entry", "short"), [(acpi.lapic_entry(1), 6),
                                              (acpi.ioapic_entry(0, IOAPIC), 8)])
def test_an_entry_shorter_than_its_type_is_refused(entry, short):
    cut = bytes([entry[0], short]) + entry[2:short]
    assert refusal(madt(acpi.lapic_entry(0), cut)) == "entry-length"


def test_an_entry_running_past_the_table_is_refused():
    assert refusal(madt(acpi.lapic_entry(0), bytes([2, 10, 0, 0]))) == "entry-overrun"


def test_a_lone_trailing_byte_is_an_overrun():
    assert refusal(madt(acpi.lapic_entry(0), b"\x00")) == "entry-overrun"


def test_a_repeated_apic_id_is_refused_enabled_or_not():
    assert refusal(madt(acpi.lapic_entry(0), acpi.lapic_entry(1), acpi.lapic_entry(1))) == \
        "duplicate-apic"
    assert refusal(madt(acpi.lapic_entry(0), acpi.lapic_entry(1, 0), acpi.lapic_entry(1))) == \
        "duplicate-apic"


def test_refusals_come_in_table_order():
    """A repeat before a broken entry is what the kernel reports."""
    t = madt(acpi.lapic_entry(0), acpi.lapic_entry(0), bytes([2, 0]))
    assert refusal(t) == "duplicate-apic"


def test_a_table_without_the_bsp_is_refused():
    assert refusal(qemu_madt(4), bsp=5) == "no-bsp"
    assert refusal(qemu_madt(2, 4), bsp=3) == "no-bsp", "a disabled BSP is no BSP"
