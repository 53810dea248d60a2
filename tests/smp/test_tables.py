"""The kernel finds its CPUs in the firmware's tables (kernel/smp_tables.c):
its SMP records and its struct smp_tables must equal what the host decodes
from the same tables in guest RAM (harness.decode.acpi, .mptable), and the
CPUs listed must be the vCPUs QEMU has (their APIC IDs from QEMU's CPU
objects).  A hostile MADT or MP table, patched in guest RAM on a cold boot
before smp_tables_init reads it, is refused whole and the kernel keeps to
its BSP; patches that stay valid (unknown entry types, a second I/O APIC,
a table across a page) are read as the host reads them."""

import struct

import pytest

from harness.decode import acpi, mptable
from harness.targets.mmverify.kernel import Kernel
from tests.smp.tables_view import (
    alone_view,
    expected_view,
    kernel_view,
    madt,
    mp_config,
    mp_config_address,
    mp_pointer_address,
    qemu_apic_ids,
    table_records,
)


def assert_kernel_found(m, found: acpi.FoundCpus) -> None:
    assert table_records(m) == found.records()
    assert kernel_view(Kernel(m)) == expected_view(found)


@pytest.mark.parametrize("smp", [
    pytest.param(n, marks=pytest.mark.machine(smp=n), id=f"smp{n}") for n in (1, 2, 4, 8)] + [
    pytest.param(4, marks=pytest.mark.machine(smp=4, bios="seabios"), id="smp4-seabios")])
def test_the_kernel_finds_every_cpu_the_madt_lists(machine, smp):
    apic_ids = qemu_apic_ids(machine)
    assert len(apic_ids) == smp
    found = acpi.found_cpus("madt", acpi.parse_madt(madt(machine).data), apic_ids[0])
    assert list(found.apic_ids) == apic_ids, "the MADT lists exactly QEMU's vCPUs"
    assert (found.lapic_base, found.ioapic_base) == (0xFEE00000, 0xFEC00000)
    assert_kernel_found(machine, found)


ONLINE_CAPABLE = 0x2  # MADT LAPIC flags bit 1: may be brought online later, not there now


@pytest.mark.parametrize("spare_flags", [None, ONLINE_CAPABLE])
def test_maxcpus_spares_are_listed_not_counted(boot, spare_flags):
    """QEMU lists the spares disabled (flags 0); flagged online capable
    instead (ACPI 6.3), they are still not CPUs there now."""
    m = boot(extra_args=("-smp", "2,maxcpus=4"))
    if spare_flags is not None:
        m.run_to("smp_tables_init")
        table = madt(m)
        data = bytearray(table.data)
        for at in lapic_offsets(data)[2:]:
            struct.pack_into("<I", data, at + 4, spare_flags)
        m.write_phys(table.addr, acpi.fix_checksum(bytes(data)))
    m.run_to("kernel_ready")
    found = acpi.found_cpus("madt", acpi.parse_madt(madt(m).data), 0)
    assert (found.apic_ids, found.listed) == ((0, 1), 4)
    assert list(found.apic_ids) == qemu_apic_ids(m)
    assert_kernel_found(m, found)


@pytest.mark.machine(cpu="486", smp=2)
def test_a_cpu_without_an_apic_runs_alone(machine):
    """QEMU's 486 has two vCPUs (and even models a LAPIC), but CPUID says
    there is no APIC: the kernel keeps to the BSP and says why."""
    assert len(qemu_apic_ids(machine)) == 2
    assert table_records(machine) == [{"source": "none", "cpus": "1", "reason": "no-apic"}]
    assert kernel_view(Kernel(machine)) == alone_view(0)


@pytest.mark.machine(smp=2, cmdline="acpi=off")
def test_without_acpi_qboots_mp_table_is_walked_by_its_length(machine):
    """qboot's MP table claims 0 entries; walked by its base length it lists
    both CPUs.  acpi=off hides every ACPI table: NUMA finds none either."""
    table = mp_config(machine)
    assert mptable.entry_count(table) == 0, "qboot's table no longer has the bug this covers"
    found = acpi.found_cpus("mp", mptable.parse_config(table), 0)
    assert found.apic_ids == (0, 1)
    assert_kernel_found(machine, found)
    assert kmap_slots_busy(machine) == 0, "the MP reads gave back every kmap window"
    assert [r.fields for r in machine.records("NUMA")] == [
        {"nodes": "1", "ranges": "0", "slit": "0"}]
    assert not [r for r in machine.records("CMDLINE") if "unknown" in r.fields]


@pytest.mark.machine(smp=4, bios="seabios", cmdline="acpi=off")
def test_without_acpi_seabios_mp_table_is_what_the_kernel_reads(machine):
    """SeaBIOS's MP table lists the BSP alone, whatever -smp says."""
    found = acpi.found_cpus("mp", mptable.parse_config(mp_config(machine)), 0)
    assert found.source == "mp"
    assert_kernel_found(machine, found)


# -- hostile MADTs: patched in guest RAM before smp_tables_init reads them --------------------


def lapic_offsets(table: bytes) -> list[int]:
    return [c.offset for c in acpi.parse_madt(table).cpus]


def entry_offsets(table: bytes) -> list[int]:
    at, found = acpi.MADT_HEADER_SIZE, []
    while at < len(table):
        found.append(at)
        at += table[at + 1]
    return found


def bad_checksum(t: bytearray) -> bytes:
    t[acpi.CHECKSUM_OFFSET] ^= 0x5A
    return bytes(t)  # not fixed up


def zero_length_entry(t: bytearray) -> bytes:
    t[lapic_offsets(t)[1] + 1] = 0
    return acpi.fix_checksum(bytes(t))


def shortened(t: bytearray, at: int, size: int) -> bytes:
    """The entry at ``at`` claims ``size`` bytes, too few for its type; the
    bytes it gives up become 2-byte entries of an unknown type, so a walk
    that took the short entry would find a valid table after it."""
    old = t[at + 1]
    t[at + 1] = size
    t[at + size:at + old] = bytes([0x7F, 2] * ((old - size) // 2))
    return acpi.fix_checksum(bytes(t))


def short_lapic_entry(t: bytearray) -> bytes:
    return shortened(t, lapic_offsets(t)[1], acpi.MADT_LAPIC_SIZE - 2)


def short_ioapic_entry(t: bytearray) -> bytes:
    at = next(a for a in entry_offsets(t) if t[a] == acpi.MADT_IOAPIC)
    return shortened(t, at, acpi.MADT_IOAPIC_SIZE - 4)


def last_entry_overruns(t: bytearray) -> bytes:
    """The last entry (QEMU's LAPIC NMI) one byte longer than what is left."""
    t[entry_offsets(t)[-1] + 1] += 1
    return acpi.fix_checksum(bytes(t))


def one_byte_after_the_last_entry(t: bytearray) -> bytes:
    """The table ends one byte into its last entry: no room for its length."""
    end = entry_offsets(t)[-1] + 1
    struct.pack_into("<I", t, 4, end)
    return acpi.fix_checksum(bytes(t[:end]))


def one_byte_nmi_entry(t: bytearray) -> bytes:
    """The last entry (not a LAPIC one: its type sets no minimum) says 1 byte."""
    t[entry_offsets(t)[-1] + 1] = 1
    return acpi.fix_checksum(bytes(t))


def header_only(t: bytearray) -> bytes:
    """A MADT of its 44-byte header alone: no CPU, so not the BSP."""
    struct.pack_into("<I", t, 4, acpi.MADT_HEADER_SIZE)
    return acpi.fix_checksum(bytes(t[:acpi.MADT_HEADER_SIZE]))


def repeated_apic_id(t: bytearray) -> bytes:
    t[lapic_offsets(t)[1] + 3] = 0
    return acpi.fix_checksum(bytes(t))


def spare_repeats_apic_id_7(t: bytearray) -> bytes:
    """(-smp 8,maxcpus=10) the last spare, disabled, takes CPU 7's APIC ID:
    an ID in the middle of the kernel's bitmap byte, not bit 0 of byte 0."""
    t[lapic_offsets(t)[-1] + 3] = 7
    return acpi.fix_checksum(bytes(t))


def bsp_disabled(t: bytearray) -> bytes:
    t[lapic_offsets(t)[0] + 4] = 0
    return acpi.fix_checksum(bytes(t))


def shorter_than_its_header(t: bytearray) -> bytes:
    struct.pack_into("<I", t, 4, acpi.MADT_HEADER_SIZE - 4)
    return acpi.fix_checksum(bytes(t[:acpi.MADT_HEADER_SIZE - 4]))


TEN_CPUS = {"extra_args": ("-smp", "8,maxcpus=10")}  # ten MADT entries, two spares


@pytest.mark.parametrize(("patch", "kind", "options"), [
    (bad_checksum, "checksum", {"smp": 2}),
    (zero_length_entry, "entry-length", {"smp": 2}),
    (short_lapic_entry, "entry-length", {"smp": 2}),
    (short_ioapic_entry, "entry-length", {"smp": 2}),
    (last_entry_overruns, "entry-overrun", {"smp": 2}),
    (one_byte_after_the_last_entry, "entry-overrun", {"smp": 2}),
    (one_byte_nmi_entry, "entry-length", {"smp": 2}),
    (header_only, "no-bsp", {"smp": 2}),
    (repeated_apic_id, "duplicate-apic", {"smp": 2}),
    (spare_repeats_apic_id_7, "duplicate-apic", TEN_CPUS),
    (bsp_disabled, "no-bsp", {"smp": 2}),
    (shorter_than_its_header, "truncated", {"smp": 2}),
])
def test_a_hostile_madt_is_refused_and_the_bsp_runs_alone(boot, patch, kind, options):
    m = boot(**options)
    m.run_to("smp_tables_init")
    table = madt(m)
    data = patch(bytearray(table.data))
    m.write_phys(table.addr, data)
    if kind != "checksum":  # the host's decoder refuses the same bytes the same way
        with pytest.raises(acpi.TableRefused) as refused:
            acpi.found_cpus("madt", acpi.parse_madt(m.read_phys(table.addr, len(data))), 0)
        assert refused.value.kind == kind
    else:
        assert not acpi.checksum_ok(m.read_phys(table.addr, len(data)))
    m.run_to("kernel_ready")
    assert table_records(m) == [{"error": kind, "table": "APIC"},
                                {"source": "none", "cpus": "1", "reason": "refused"}]
    assert kernel_view(Kernel(m)) == alone_view(0)


def test_entries_of_other_types_are_passed_over(boot):
    """QEMU's last entry (the 6-byte LAPIC NMI) replaced by three 2-byte
    entries of a type the kernel does not know: the table stays valid."""
    m = boot(smp=2)
    m.run_to("smp_tables_init")
    table = madt(m)
    data = bytearray(table.data)
    last = entry_offsets(data)[-1]
    assert data[last + 1] == 6
    data[last:last + 6] = bytes([0x7F, 2] * 3)
    m.write_phys(table.addr, acpi.fix_checksum(bytes(data)))
    m.run_to("kernel_ready")
    found = acpi.found_cpus("madt", acpi.parse_madt(m.read_phys(table.addr, len(data))), 0)
    assert found.apic_ids == (0, 1)
    assert_kernel_found(m, found)


def test_the_first_of_two_ioapics_counts(boot):
    """Two of QEMU's interrupt source overrides (10 bytes each) replaced by a
    second I/O APIC and four 2-byte entries of an unknown type."""
    m = boot(smp=2)
    m.run_to("smp_tables_init")
    table = madt(m)
    data = bytearray(table.data)
    overrides = [a for a in entry_offsets(data) if data[a] == 2]
    assert overrides[1] == overrides[0] + 10
    data[overrides[0]:overrides[0] + 20] = acpi.ioapic_entry(1, 0xFEC01000) + bytes([0x7F, 2] * 4)
    m.write_phys(table.addr, acpi.fix_checksum(bytes(data)))
    m.run_to("kernel_ready")
    found = acpi.found_cpus("madt", acpi.parse_madt(m.read_phys(table.addr, len(data))), 0)
    assert acpi.parse_madt(m.read_phys(table.addr, len(data))).ioapics == (0xFEC00000, 0xFEC01000)
    assert found.ioapic_base == 0xFEC00000
    assert_kernel_found(m, found)


def enable_spares(t: bytearray) -> bytes:
    for at in lapic_offsets(t):
        t[at + 4] |= acpi.ENABLED
    return acpi.fix_checksum(bytes(t))


def enable_spares_bsp_last(t: bytearray) -> bytes:
    """Every spare enabled, and the BSP's entry swapped with the last one's
    APIC ID: the BSP comes tenth."""
    first, last = lapic_offsets(t)[0], lapic_offsets(t)[-1]
    t[first + 3], t[last + 3] = t[last + 3], t[first + 3]
    return enable_spares(t)


@pytest.mark.parametrize(("patch", "kept"), [
    (enable_spares, (0, 1, 2, 3, 4, 5, 6, 7)),
    (enable_spares_bsp_last, (9, 1, 2, 3, 4, 5, 6, 0)),
])
def test_more_than_cpu_max_are_clipped_keeping_the_bsp(boot, patch, kept):
    """-smp 8,maxcpus=10 lists ten CPUs, two spares; enabled, they are ten:
    a record, and the first eight kept (the BSP always)."""
    m = boot(**TEN_CPUS)
    m.run_to("smp_tables_init")
    table = madt(m)
    m.write_phys(table.addr, patch(bytearray(table.data)))
    m.run_to("kernel_ready")
    found = acpi.found_cpus("madt", acpi.parse_madt(m.read_phys(table.addr, len(table.data))), 0)
    assert (found.apic_ids, found.enabled) == (kept, 10)
    assert table_records(m)[0] == {"error": "too-many", "table": "APIC", "enabled": "10",
                                   "kept": "8"}
    assert_kernel_found(m, found)


# -- the BSP's APIC ID comes from CPUID, not from the table's order ---------------------------


def cpuid_address(m, function: str) -> int:
    """The address of the one `cpuid` instruction in ``function``."""
    lines = [ln for ln in m.require_gdb("disassemble").console(f"disassemble {function}")
             .splitlines() if "\tcpuid" in ln]
    assert len(lines) == 1, lines
    return int(lines[0].split()[0], 16)


def cpu_says_apic_id(m, function: str, apic_id: int) -> None:
    """Run ``function``'s cpuid as a CPU whose leaf 1 gives initial APIC ID
    ``apic_id``: EBX bits 31-24 rewritten after the instruction, when it
    asked for leaf 1 (any other leaf is answered as QEMU answers it)."""
    at = cpuid_address(m, function)
    m.run_to(at)
    leaf = m.reg("eax")
    m.run_to(at + 2)  # cpuid is 0F A2
    if leaf == 1:
        m.set_reg("ebx", m.reg("ebx") & 0x00FFFFFF | apic_id << 24)


@pytest.mark.parametrize(("bsp", "records"), [
    (1, [{"source": "madt", "cpus": "2", "listed": "2", "lapic": "0xfee00000",
          "ioapic": "0xfec00000", "bsp": "1"}, {"cpu": "0", "apic": "0"},
         {"cpu": "1", "apic": "1"}]),
    (5, [{"error": "no-bsp", "table": "APIC"},
         {"source": "none", "cpus": "1", "reason": "refused"}]),
])
def test_the_bsp_is_who_cpuid_says(boot, bsp, records):
    """QEMU's BSP is always APIC ID 0, so CPUID leaf 1's answer is rewritten
    to make the BSP CPU 1, listed second, or APIC ID 5, which the MADT does
    not list."""
    m = boot(smp=2)
    m.run_to("smp_tables_init")
    cpu_says_apic_id(m, "smp_tables_init", bsp)
    m.run_to("kernel_ready")
    assert table_records(m) == records
    view = kernel_view(Kernel(m))
    if bsp == 1:
        assert view == expected_view(acpi.found_cpus("madt", acpi.parse_madt(madt(m).data), 1))
    else:
        assert view == alone_view(5)


# -- hostile MP tables (acpi=off): patched before smp_tables_init reads them -----------------


def mp_checksum(_pointer: int, config: bytearray) -> None:
    config[mptable.CONFIG_CHECKSUM_OFFSET] ^= 0x5A


def mp_signature(_pointer: int, config: bytearray) -> None:
    config[3] = ord("Q")
    config[:] = mptable.fix_checksum(bytes(config))


def mp_truncated(_pointer: int, config: bytearray) -> None:
    struct.pack_into("<H", config, 4, mptable.CONFIG_HEADER_SIZE - 4)
    config[:] = mptable.fix_checksum(bytes(config[:mptable.CONFIG_HEADER_SIZE - 4])) + \
        config[mptable.CONFIG_HEADER_SIZE - 4:]


def mp_overlong(_pointer: int, config: bytearray) -> None:
    struct.pack_into("<H", config, 4, 4097)


def mp_cpu_cut_by_the_length(_pointer: int, config: bytearray) -> None:
    """The base length ends 12 bytes into the second processor entry."""
    cut = mptable.CONFIG_HEADER_SIZE + mptable.CPU_SIZE + 12
    struct.pack_into("<H", config, 4, cut)
    config[:cut] = mptable.fix_checksum(bytes(config[:cut]))


def mp_repeated_apic_id(_pointer: int, config: bytearray) -> None:
    config[mptable.CONFIG_HEADER_SIZE + mptable.CPU_SIZE + 1] = 0
    config[:] = mptable.fix_checksum(bytes(config))


def mp_bsp_disabled(_pointer: int, config: bytearray) -> None:
    config[mptable.CONFIG_HEADER_SIZE + 3] = 0
    config[:] = mptable.fix_checksum(bytes(config))


@pytest.mark.parametrize(("patch", "kind"), [
    (mp_checksum, "checksum"),
    (mp_signature, "signature"),
    (mp_truncated, "truncated"),
    (mp_overlong, "overlong"),
    (mp_cpu_cut_by_the_length, "entry-overrun"),
    (mp_repeated_apic_id, "duplicate-apic"),
    (mp_bsp_disabled, "no-bsp"),
])
def test_a_hostile_mp_table_is_refused_and_the_bsp_runs_alone(boot, patch, kind):
    """qboot's MP table (both CPUs processor entries first), patched."""
    m = boot(smp=2, cmdline="acpi=off")
    m.run_to("smp_tables_init")
    pointer = mp_pointer_address(m)
    assert pointer is not None
    addr = mp_config_address(m)
    config = bytearray(mp_config(m))
    patch(pointer, config)
    m.write_phys(addr, bytes(config))
    if kind != "overlong":  # the host's decoder refuses the same bytes the same way
        with pytest.raises(acpi.TableRefused) as refused:
            acpi.found_cpus("mp", mptable.parse_config(mp_config(m)), 0)
        assert refused.value.kind == kind
    m.run_to("kernel_ready")
    assert table_records(m) == [{"error": kind, "table": "MP"},
                                {"source": "none", "cpus": "1", "reason": "refused"}]
    assert kernel_view(Kernel(m)) == alone_view(0)


def pointer_checksum(pointer: bytearray) -> bytearray:
    pointer[10] ^= 0x5A
    return pointer


def fix_pointer(pointer: bytearray) -> bytearray:
    pointer[10] = 0
    pointer[10] = -sum(pointer) & 0xFF
    return pointer


def pointer_into_a_hole(pointer: bytearray) -> bytearray:
    """The configuration table named in the VGA hole (checksum fixed up)."""
    struct.pack_into("<I", pointer, 4, 0xA0000)
    return fix_pointer(pointer)


def pointer_signature(pointer: bytearray) -> bytearray:
    """"_MPX" with its checksum right: all four bytes are the signature."""
    pointer[3] = ord("X")
    return fix_pointer(pointer)


def pointer_length_2(pointer: bytearray) -> bytearray:
    """A pointer claiming two paragraphs (the spec's is one), checksum right."""
    pointer[8] = 2
    return fix_pointer(pointer)


@pytest.mark.parametrize(("patch", "records"), [
    (pointer_checksum, [{"source": "none", "cpus": "1", "reason": "no-tables"}]),
    (pointer_into_a_hole, [{"error": "past-memory", "table": "MP"},
                           {"source": "none", "cpus": "1", "reason": "refused"}]),
    (pointer_length_2, [{"source": "none", "cpus": "1", "reason": "no-tables"}]),
    (pointer_signature, [{"source": "none", "cpus": "1", "reason": "no-tables"}]),
])
def test_a_bad_mp_pointer_is_no_table_or_refused(boot, patch, records):
    """A pointer whose checksum fails is no pointer (qboot has none in the
    BIOS ROM either: no tables at all); one naming a hole is refused
    without reading there."""
    m = boot(smp=2, cmdline="acpi=off")
    m.run_to("smp_tables_init")
    pointer = mp_pointer_address(m)
    assert pointer is not None
    m.write_phys(pointer, bytes(patch(bytearray(m.read_phys(pointer, mptable.POINTER_SIZE)))))
    if patch is not pointer_into_a_hole:
        assert mp_pointer_address(m) is None
    m.run_to("kernel_ready")
    assert table_records(m) == records
    assert kernel_view(Kernel(m)) == alone_view(0)


def test_the_mp_pointer_in_the_last_paragraph_of_the_ebdas_first_kib(boot):
    """qboot's pointer moved from the EBDA's start to its 64th paragraph: the
    whole first KiB is searched, and the same table is found."""
    m = boot(smp=2, cmdline="acpi=off")
    m.run_to("smp_tables_init")
    pointer = mp_pointer_address(m)
    assert pointer == 0x9FC00, "qboot's EBDA (and its pointer) moved"
    raw = m.read_phys(pointer, mptable.POINTER_SIZE)
    m.write_phys(pointer, bytes(mptable.POINTER_SIZE))
    m.write_phys(pointer + 1024 - 16, raw)
    assert mp_pointer_address(m) == pointer + 1024 - 16
    m.run_to("kernel_ready")
    found = acpi.found_cpus("mp", mptable.parse_config(mp_config(m)), 0)
    assert found.apic_ids == (0, 1)
    assert_kernel_found(m, found)


def test_an_mp_table_running_into_a_hole_is_refused(boot):
    """qboot's table copied to end 0x30 bytes short of the VGA hole (its
    header inside memory, its entries past it) and the pointer moved to it:
    refused before anything is read from the hole."""
    m = boot(smp=2, cmdline="acpi=off")
    m.run_to("smp_tables_init")
    pointer = mp_pointer_address(m)
    assert pointer is not None
    config = mp_config(m)
    moved = 0xA0000 - 0x30
    m.write_phys(moved, config[:0x30])
    raw = bytearray(m.read_phys(pointer, mptable.POINTER_SIZE))
    struct.pack_into("<I", raw, 4, moved)
    m.write_phys(pointer, bytes(fix_pointer(raw)))
    m.run_to("kernel_ready")
    assert table_records(m) == [{"error": "past-memory", "table": "MP"},
                                {"source": "none", "cpus": "1", "reason": "refused"}]


RESERVED_FLAG = 0x80  # flags with a bit set, but not bit 0: "enabled" is bit 0 alone


def test_an_mp_table_across_a_page_boundary_is_read_whole(boot):
    """qboot's table copied to straddle 0x9F000 (free base memory below the
    EBDA), at an odd address with its last byte alone in the second page,
    and the pointer moved to it: read a page at a time, the same CPUs, and
    every kmap window given back."""
    m = boot(smp=2, cmdline="acpi=off")
    m.run_to("smp_tables_init")
    pointer = mp_pointer_address(m)
    assert pointer is not None
    config = mp_config(m)
    moved = 0x9F000 - (len(config) - 1)
    assert moved % 2 == 1 and config[-1] != 0, "the last byte must tell a copy that stops short"
    m.write_phys(moved, config)
    raw = bytearray(m.read_phys(pointer, mptable.POINTER_SIZE))
    struct.pack_into("<I", raw, 4, moved)
    m.write_phys(pointer, bytes(fix_pointer(raw)))
    m.run_to("kernel_ready")
    assert mp_config_address(m) == moved
    found = acpi.found_cpus("mp", mptable.parse_config(mp_config(m)), 0)
    assert found.apic_ids == (0, 1)
    assert_kernel_found(m, found)
    assert kmap_slots_busy(m) == 0


def kmap_slots_busy(m) -> int:
    """How many of vmm.c's kmap window slots are taken (kmap_busy[])."""
    size = Kernel(m).sizeof("kmap_busy")
    return sum(Kernel(m).read_kernel(m.symbol("kmap_busy"), size))


def second_cpu_disabled(config: bytearray) -> None:
    config[mptable.CONFIG_HEADER_SIZE + mptable.CPU_SIZE + 3] = RESERVED_FLAG


def ioapic_disabled(config: bytearray) -> None:
    at = mptable.CONFIG_HEADER_SIZE
    while config[at] != mptable.IOAPIC:
        at += mptable.CPU_SIZE if config[at] == mptable.CPU else mptable.ENTRY_SIZE
    config[at + 3] = RESERVED_FLAG


def second_ioapic(config: bytearray) -> None:
    """The last entry (an interrupt assignment, 8 bytes) made a second I/O APIC."""
    at = len(config) - mptable.ENTRY_SIZE
    assert config[at] != mptable.CPU
    config[at:] = mptable.ioapic_entry(6, 0xFEC01000)


@pytest.mark.parametrize(("patch", "cpus", "ioapic"), [
    (second_cpu_disabled, (0,), 0xFEC00000),
    (ioapic_disabled, (0, 1), 0),
    (second_ioapic, (0, 1), 0xFEC00000),
])
def test_mp_entries_the_kernel_passes_over(boot, patch, cpus, ioapic):
    """A disabled CPU or I/O APIC is listed, not used; a second I/O APIC is
    listed, the first one counts."""
    m = boot(smp=2, cmdline="acpi=off")
    m.run_to("smp_tables_init")
    addr = mp_config_address(m)
    config = bytearray(mp_config(m))
    patch(config)
    m.write_phys(addr, mptable.fix_checksum(bytes(config)))
    m.run_to("kernel_ready")
    found = acpi.found_cpus("mp", mptable.parse_config(mp_config(m)), 0)
    assert (found.apic_ids, found.listed, found.ioapic_base) == (cpus, 2, ioapic)
    assert_kernel_found(m, found)


def test_a_full_table_without_the_lapics_bsp_overruns_no_cpu_slot(boot):
    """CPUID says the BSP is APIC ID 9, which the table lists first; its
    LAPIC's ID register says 0, which the eight kept entries (9, 1-7) do not
    list.  smp_init passes over no entry as the BSP, so the eighth AP has no
    slot in cpus[]: it is recorded and left out, never written past the
    array (review of the first wave, 1.3)."""
    m = boot(**TEN_CPUS)
    m.run_to("smp_tables_init")
    table = madt(m)
    m.write_phys(table.addr, enable_spares_bsp_last(bytearray(table.data)))
    cpu_says_apic_id(m, "smp_tables_init", 9)
    m.run_to("kernel_ready")
    starts = [(r["cpu"], r["apic"], r["state"]) for r in m.records("SMP") if "state" in r.fields]
    # Slot 1 is APIC ID 9, which QEMU does not have: it never answers.
    assert starts == [("1", "9", "no-start")] + [(str(i), str(i - 1), "online")
                                                 for i in range(2, 8)]
    assert [r["apic"] for r in m.records("SMP") if r.get("error") == "no-slot"] == ["7"]
    assert Kernel(m).u32("cpu_online_mask") == 0xFD
