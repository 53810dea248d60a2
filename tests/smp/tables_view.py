"""What the SMP table tests know about a machine, read from outside: the
MADT and the MP table in guest RAM (decoded by harness.decode), each CPU's
APIC ID from QEMU's own CPU objects (QMP), and the kernel's struct
smp_tables and SMP records."""

from __future__ import annotations

from harness.decode import acpi, mptable
from harness.targets.mmverify.kernel import Kernel
from tests.numa.numa_view import BIOS_AREA, EBDA_SEGMENT_PTR, Table, acpi_tables

MP_AREA = (0xF0000, BIOS_AREA[1])  # the MP spec's BIOS ROM range
BASE_MEMORY_KIB = 0x413            # the BDA's word: KiB of base memory


def table_records(m) -> list[dict[str, str]]:
    """The SMP records smp_tables_init wrote (not the bring-up's, which
    carry state= or online=), fields in order."""
    return [r.fields for r in m.records("SMP") if not {"state", "online"} & r.fields.keys()]


def qemu_apic_ids(m) -> list[int]:
    """Each vCPU's APIC ID, CPU 0 first, as QEMU's CPU objects hold them."""
    cpus = m.qemu.command("query-cpus-fast")
    assert isinstance(cpus, list), cpus
    ids = []
    for cpu in sorted(cpus, key=lambda c: c["cpu-index"]):
        ids.append(int(m.qemu.command("qom-get", path=cpu["qom-path"], property="apic-id")))
    return ids


def madt(m) -> Table:
    return acpi_tables(m)["APIC"]


def mp_pointer_address(m) -> int | None:
    """Where the MP floating pointer is, searched in the MP spec's order:
    the EBDA's first KiB (its segment in the BDA at 0x40E; qboot leaves
    that 0), else the last KiB of base memory (its size in KiB in the BDA
    at 0x413, 640 when 0), then the BIOS ROM."""
    ebda = int.from_bytes(m.read_phys(EBDA_SEGMENT_PTR, 2), "little") << 4
    if not ebda:
        ebda = ((int.from_bytes(m.read_phys(BASE_MEMORY_KIB, 2), "little") or 640) - 1) * 1024
    found = mptable.find_pointer(m.read_phys(ebda, 1024), ebda)
    if found is None:
        start, end = MP_AREA
        found = mptable.find_pointer(m.read_phys(start, end - start), start)
    return found


def mp_config_address(m) -> int:
    """Where the MP floating pointer says the configuration table is."""
    found = mp_pointer_address(m)
    assert found is not None, "the firmware left no MP floating pointer"
    return mptable.config_address(m.read_phys(found, mptable.POINTER_SIZE))


def mp_config(m) -> bytes:
    pa = mp_config_address(m)
    return m.read_phys(pa, mptable.base_length(m.read_phys(pa, mptable.CONFIG_HEADER_SIZE)))


def kernel_view(kernel: Kernel) -> dict:
    """struct smp_tables as the kernel holds it: the source string, and the
    APIC IDs it counts."""
    t = kernel.read_struct("smp_tables", "smp_tables")
    return {"source": kernel.read_kernel_string(t["source"], 8), "lapic_base": t["lapic_base"],
            "ioapic_base": t["ioapic_base"], "apic_id": t["apic_id"][:t["count"]],
            "bsp_apic_id": t["bsp_apic_id"], "unused": t["apic_id"][t["count"]:]}


def expected_view(found: acpi.FoundCpus) -> dict:
    return {"source": found.source, "lapic_base": found.lapic_base,
            "ioapic_base": found.ioapic_base, "apic_id": list(found.apic_ids),
            "bsp_apic_id": found.bsp, "unused": [0] * (acpi.CPU_MAX - len(found.apic_ids))}


def alone_view(bsp: int) -> dict:
    """The struct of a kernel running on its BSP alone."""
    return {"source": "none", "lapic_base": 0, "ioapic_base": 0, "apic_id": [bsp],
            "bsp_apic_id": bsp, "unused": [0] * (acpi.CPU_MAX - 1)}
