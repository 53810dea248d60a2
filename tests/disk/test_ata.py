"""The ATA driver behind dev/blk.h, driven through kernel calls and judged
on the host: sectors the host wrote into the image are what blk_read
returns, and what blk_write sends is in the image afterwards."""

import pytest

from harness.machine.disks import DiskSpec, raw_image

SECTOR = 512


def pattern(seed: int, size: int) -> bytes:
    """Bytes that differ in every word and from every other seed's."""
    return b"".join(((seed << 20) + i).to_bytes(4, "little") for i in range(size // 4))


HDA = DiskSpec("hda", size="4M", image=raw_image({5: pattern(5, 8 * SECTOR)}, "4M"))


def device(machine, name: str) -> int:
    index = "abcd".index(name[-1])
    size = int(machine.evaluate("sizeof(struct blk_device)"))
    return machine.symbol("blk_devices") + index * size


def blk_read(machine, name: str, lba: int, count: int) -> tuple[int, bytes]:
    buf = machine.call_value("kmalloc", count * SECTOR)
    rc = machine.call_value("blk_read", device(machine, name), lba, 0, count, buf)
    data = machine.read(buf, count * SECTOR)
    machine.call("kfree", buf)
    return rc, data


@pytest.mark.machine(disks=[HDA])
def test_boot_finds_the_disk(machine):
    """One DISK record for the disk QEMU has, with its capacity; none for the others."""
    disks = [r for r in machine.records("DISK") if "name" in r.fields]
    assert [(r["name"], r["sectors"]) for r in disks] == [("hda", "8192")]


@pytest.fixture(params=["ata_dma=on", "ata_dma=off"], ids=["dma", "pio"])
def extra_cmdline(request):
    """Every machine test here runs with bus-master DMA and with PIO."""
    return request.param


@pytest.mark.machine(disks=[HDA])
def test_reads_what_the_host_wrote(machine):
    """Sectors 5..12 come back exactly as the host wrote them; 4 and 13 are zero."""
    rc, data = blk_read(machine, "hda", 4, 10)
    assert rc == 0
    assert data == bytes(SECTOR) + pattern(5, 8 * SECTOR) + bytes(SECTOR)


@pytest.mark.machine(disks=[HDA])
def test_dma_is_used_and_irqs_complete(machine, kernel):
    """The controller's bus-master engine moved the data, completed by IRQ 14."""
    if "ata_dma=off" in machine.cfg.cmdline:
        pytest.skip("PIO")
    assert [r["dma"] for r in machine.records("DISK") if "name" in r.fields] == ["on"]
    irqs = machine.read_u32(machine.symbol("ata_stats"))
    dma = int(machine.evaluate("ata_stats.dma_commands"))
    assert blk_read(machine, "hda", 5, 1)[0] == 0
    assert machine.read_u32(machine.symbol("ata_stats")) == irqs + 1
    assert int(machine.evaluate("ata_stats.dma_commands")) == dma + 1


@pytest.mark.machine(disks=[HDA])
def test_write_then_flush_reaches_the_image(machine):
    """blk_write + blk_flush: the host reads the same bytes from the image."""
    data = pattern(77, 3 * SECTOR)
    buf = machine.call_value("kmalloc", len(data))
    machine.write(buf, data)
    hda = device(machine, "hda")
    assert machine.call_value("blk_write", hda, 100, 0, 3, buf) == 0
    assert machine.call_value("blk_flush", hda) == 0
    assert machine.read_disk("hda", 100 * SECTOR, 3 * SECTOR) == data
    assert machine.read_disk("hda", 99 * SECTOR, SECTOR) == bytes(SECTOR)
    stats = machine.blockstats()["hda"]
    assert stats["wr_operations"] >= 1 and stats["wr_bytes"] >= 3 * SECTOR
    assert stats["flush_operations"] >= 1


@pytest.mark.machine(disks=[HDA])
def test_pio_moves_data_when_dma_is_off(machine):
    """ata_dma=off: the same data, by PIO, one interrupt per sector."""
    if "ata_dma=off" not in machine.cfg.cmdline:
        pytest.skip("DMA")
    assert [r["dma"] for r in machine.records("DISK") if "name" in r.fields] == ["off"]
    irqs = machine.read_u32(machine.symbol("ata_stats"))
    assert blk_read(machine, "hda", 5, 3) == (0, pattern(5, 3 * SECTOR))
    assert machine.read_u32(machine.symbol("ata_stats")) == irqs + 3
    assert int(machine.evaluate("ata_stats.dma_commands")) == 0
