"""Where guest-physical addresses lie in QEMU's RAM file when the pc machine
splits RAM around the hole below 4 GiB (no QEMU: the arithmetic alone, and a
GuestRam on a file laid out as QEMU lays it out)."""

import pytest

from harness.transport.physmem import FOUR_GIB, GuestRam, file_offset, ram_below_4g, ram_ranges

MIB = 1 << 20
GIB = 1 << 30


@pytest.mark.parametrize(("ram", "below"), [
    (64 * MIB, 64 * MIB),
    (3584 * MIB - MIB, 3584 * MIB - MIB),  # just under 3.5 GiB: no split
    (3584 * MIB, 3 * GIB),                 # 3.5 GiB: split, 3 GiB below
    (6 * GIB, 3 * GIB),
])
def test_how_much_ram_stays_below_4g(ram, below):
    assert ram_below_4g(ram) == below


def test_ram_ranges_without_a_split():
    assert ram_ranges(64 * MIB) == [(0, 64 * MIB)]


def test_ram_ranges_with_a_split():
    assert ram_ranges(6 * GIB) == [(0, 0xC0000000), (0x100000000, 0x1C0000000)]
    assert ram_ranges(3584 * MIB) == [(0, 0xC0000000), (0x100000000, 0x120000000)]


@pytest.mark.parametrize(("addr", "size", "offset"), [
    (0, 4, 0),
    (0xBFFFFFFC, 4, 0xBFFFFFFC),            # last word below the hole
    (0x100000000, 4, 0xC0000000),           # first word above 4 GiB follows low RAM
    (0x123456788, 8, 0xC0000000 + 0x23456788),
    (0x1BFFFFFFC, 4, 0x17FFFFFFC),          # last word of RAM, last word of the file
    (0x100000000, 3 * GIB, 0xC0000000),     # all of high RAM
])
def test_file_offsets_of_a_6g_machine(addr, size, offset):
    assert file_offset(addr, size, 6 * GIB) == offset


@pytest.mark.parametrize(("addr", "size"), [
    (0xBFFFFFFC, 8),            # crosses from low RAM into the hole
    (0xC0000000, 4),            # in the hole
    (0xFFFFFFFC, 8),            # crosses from the hole into high RAM
    (0xBFFFF000, 0x40001000),   # spans the whole hole
    (0x1C0000000, 4),           # past the end of RAM
    (0x1BFFFFFFC, 8),           # across the end of RAM
    (0x100000000, 0),
    (-4, 4),
])
def test_ranges_outside_ram_have_no_file_offset(addr, size):
    assert file_offset(addr, size, 6 * GIB) is None


def test_without_a_split_nothing_lies_above_4g():
    assert file_offset(FOUR_GIB, 4, 64 * MIB) is None
    assert file_offset(64 * MIB - 4, 4, 64 * MIB) == 64 * MIB - 4


def test_guest_ram_reads_and_writes_high_ram_at_its_file_offset(tmp_path):
    """A sparse 6 GiB file laid out as QEMU's: bytes put at file offset
    below + (addr - 4 GiB) are what GuestRam reads at addr, and GuestRam's
    writes land there."""
    path = tmp_path / "ram"
    ram = 6 * GIB
    with open(path, "wb") as f:
        f.truncate(ram)
        f.seek(0xC0000000 + 0x1000)
        f.write(b"HIGH")
        f.seek(0x200000)
        f.write(b"LOW!")
    guest = GuestRam(path, ram)
    try:
        assert guest.read(FOUR_GIB + 0x1000, 4) == b"HIGH"
        assert guest.read(0x200000, 4) == b"LOW!"
        guest.write(0x1BFFFFFF0, b"last")
        assert guest.read(0x1BFFFFFF0, 4) == b"last"
        assert not guest.covers(0xBFFFFFFC, 8)
        assert not guest.covers(0x80000, 4), "below 1 MiB goes through GDB (ROMs, VGA)"
        with pytest.raises(ValueError, match="outside mapped RAM"):
            guest.read(0xFFFFFFFC, 8)
        with pytest.raises(ValueError, match="outside mapped RAM"):
            guest.write(0xC0000000, b"x")
    finally:
        guest.close()
    with open(path, "rb") as f:
        f.seek(0x17FFFFFF0)
        assert f.read(4) == b"last"
