"""The harness's MP table decoder (harness.decode.mptable) and what the
kernel must conclude from it, on tables built here byte by byte (no QEMU):
qboot's entry count of 0, the floating pointer's checks, every refusal."""

import struct

import pytest

from harness.decode import acpi, mptable

LAPIC, IOAPIC = 0xFEE00000, 0xFEC00000
BUS_ISA = bytes([1, 0]) + b"ISA   "
INTERRUPT = bytes([3, 0, 0, 0, 0, 0, 5, 0])  # an I/O interrupt assignment, 8 bytes


def pointer(config: int, length: int = 1) -> bytes:
    raw = bytearray(struct.pack("<4sIBBBB4x", b"_MP_", config, length, 4, 0, 0))
    raw[10] = -sum(raw) & 0xFF
    return bytes(raw)


def qboot_table(cpus: int) -> bytes:
    """qboot's layout: CPUs, the ISA bus, the I/O APIC (ID 5), interrupt
    entries, and an entry count of 0."""
    return mptable.config_table(LAPIC, *(mptable.cpu_entry(i, 3 if i == 0 else 1)
                                         for i in range(cpus)),
                                BUS_ISA, mptable.ioapic_entry(5, IOAPIC), INTERRUPT, INTERRUPT,
                                count=0)


def refusal(table: bytes, bsp: int = 0) -> str:
    with pytest.raises(acpi.TableRefused) as e:
        acpi.found_cpus("mp", mptable.parse_config(table), bsp)
    return e.value.kind


def test_the_pointer_is_found_on_a_paragraph_with_its_checksum():
    area = bytearray(64)
    area[16:32] = pointer(0x9FC10)
    assert mptable.find_pointer(bytes(area), 0x9FC00) == 0x9FC10
    assert mptable.config_address(bytes(area[16:32])) == 0x9FC10


@pytest.mark.parametrize("damage", ["checksum", "length", "unaligned"])
def test_a_bad_pointer_candidate_is_passed_over(damage):
    area = bytearray(64)
    good = pointer(0x9FC10)
    if damage == "checksum":
        area[16:32] = good[:10] + bytes([good[10] ^ 1]) + good[11:]
    elif damage == "length":
        area[16:32] = pointer(0x9FC10, length=2)
    else:
        area[20:36] = good
    assert mptable.find_pointer(bytes(area), 0x9FC00) is None


def test_qboots_entry_count_of_zero_is_walked_by_length():
    t = qboot_table(4)
    assert mptable.entry_count(t) == 0
    assert mptable.base_length(t) == 44 + 4 * 20 + 8 * 4
    parsed = mptable.parse_config(t)
    assert [c.apic_id for c in parsed.cpus] == [0, 1, 2, 3]
    assert [c.offset for c in parsed.cpus] == [44, 64, 84, 104]
    assert parsed.ioapics == (IOAPIC,)
    assert acpi.found_cpus("mp", parsed, 0).records() == [
        {"source": "mp", "cpus": "4", "listed": "4", "lapic": "0xfee00000",
         "ioapic": "0xfec00000", "bsp": "0"},
        {"cpu": "0", "apic": "0"}, {"cpu": "1", "apic": "1"},
        {"cpu": "2", "apic": "2"}, {"cpu": "3", "apic": "3"}]


def test_disabled_cpus_and_ioapics_are_listed_not_used():
    t = mptable.config_table(LAPIC, mptable.cpu_entry(0, 3), mptable.cpu_entry(1, 0),
                             mptable.ioapic_entry(1, 0xFEC01000, flags=0),
                             mptable.ioapic_entry(5, IOAPIC))
    found = acpi.found_cpus("mp", mptable.parse_config(t), 0)
    assert (found.apic_ids, found.listed, found.ioapic_base) == ((0,), 2, IOAPIC)


def test_a_wrong_signature_is_refused():
    t = qboot_table(2)
    assert refusal(mptable.fix_checksum(b"PCMQ" + t[4:])) == "signature"


def test_a_length_shorter_than_the_header_is_truncated():
    t = bytearray(qboot_table(2))
    struct.pack_into("<H", t, 4, 40)
    assert refusal(mptable.fix_checksum(bytes(t[:40]))) == "truncated"


def test_a_length_over_the_kernels_buffer_is_overlong():
    t = bytearray(qboot_table(2))
    struct.pack_into("<H", t, 4, 4097)
    assert refusal(bytes(t) + bytes(4097 - len(t))) == "overlong"


def test_a_bad_checksum_is_refused():
    t = bytearray(qboot_table(2))
    t[mptable.CONFIG_CHECKSUM_OFFSET] ^= 0x5A
    assert refusal(bytes(t)) == "checksum"


def test_a_processor_entry_cut_by_the_length_is_an_overrun():
    t = mptable.config_table(LAPIC, mptable.cpu_entry(0, 3), mptable.cpu_entry(1)[:12])
    assert refusal(t) == "entry-overrun"


def test_a_repeated_apic_id_is_refused():
    t = mptable.config_table(LAPIC, mptable.cpu_entry(0, 3), mptable.cpu_entry(0))
    assert refusal(t) == "duplicate-apic"


def test_a_table_without_the_bsp_is_refused():
    assert refusal(qboot_table(2), bsp=2) == "no-bsp"


def test_seabios_lists_the_bsp_alone():
    """SeaBIOS's table names only the BSP, whatever -smp says: one CPU."""
    t = mptable.config_table(LAPIC, mptable.cpu_entry(0, 3), BUS_ISA,
                             mptable.ioapic_entry(0, IOAPIC), INTERRUPT)
    assert acpi.found_cpus("mp", mptable.parse_config(t), 0).apic_ids == (0,)
