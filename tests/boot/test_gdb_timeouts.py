"""A GDB command that times out does not delay or answer the next one, and
big reads do not time out in the first place."""

import time

import pytest

from harness import GdbError, timeouts

SIXTEEN_MIB = 16 << 20
KERNEL_IMAGE = 0xC0100000


def gdb_bytes(machine, addr, size):
    """GDB's own answer for a read, bypassing the harness's read()."""
    payload = machine.gdb.command(f"-data-read-memory-bytes {addr:#x} {size}").payload
    return b"".join(bytes.fromhex(chunk["contents"]) for chunk in payload["memory"])


def first_unmapped_page(machine, start):
    aspace = machine.address_space()
    va = start
    while aspace.translate(va).pa is not None:
        va += 4096
    return va


def test_a_timed_out_command_does_not_hold_up_the_next_one(machine):
    big = "-data-read-memory-bytes 0xc0200000 33554432"  # 32 MiB: seconds of GDB's time
    with pytest.raises(GdbError) as info:
        machine.gdb.command(big, timeout=0.05)
    start = time.monotonic()
    assert machine.call("agent_nop", 7) == 7
    assert time.monotonic() - start < timeouts.scaled(1.0)
    assert "gave it up when interrupted" in info.value.reason
    log = machine.gdb.tail(400, width=200).splitlines()
    sent = next(i for i, line in enumerate(log) if line.endswith(big))
    token = log[sent][2:].split("-", 1)[0]
    answered = log.index(f'{token}^error,msg="Quit"')
    following = next(i for i, line in enumerate(log) if i > sent and line.startswith("> "))
    assert sent < answered < following, "the lost command's answer was drained before the next"


def test_a_16_mib_read_of_the_kernel_half_completes_and_matches_gdb(machine):
    start = first_unmapped_page(machine, KERNEL_IMAGE) + 4096  # above the boot stack's guard
    # Marks in free frames (clear of the boot stack, bitmaps and page tables).
    marks = {4 << 20: b"early", SIXTEEN_MIB // 2 + 123: b"middle", SIXTEEN_MIB - 4: b"last"}
    for offset, text in marks.items():
        machine.write(start + offset, text)
    began = time.monotonic()
    data = machine.read(start, SIXTEEN_MIB)
    assert time.monotonic() - began < timeouts.scaled(1.0)
    assert len(data) == SIXTEEN_MIB
    assert {offset: data[offset:offset + len(text)] for offset, text in marks.items()} == marks
    for offset in range(0, SIXTEEN_MIB, SIXTEEN_MIB // 16):
        sample = offset + 0x3F0  # not page aligned: crosses into the next page
        assert data[sample:sample + 512] == gdb_bytes(machine, start + sample, 512), hex(sample)


def test_a_big_read_from_an_unmapped_address_fails_at_once_naming_it(machine):
    began = time.monotonic()
    with pytest.raises(GdbError, match=r"read of 16777216 bytes at 0xc0000000: the page at "
                                       r"0xc0000000 is not mapped"):
        machine.read(0xC0000000, SIXTEEN_MIB)
    assert time.monotonic() - began < timeouts.scaled(1.0)
    assert machine.call("agent_nop", 8) == 8


@pytest.mark.parametrize(("before", "size"), [(16, 32), (0x13000, 256 << 10)],
                         ids=["through-gdb", "through-page-tables"])
def test_a_read_across_an_unmapped_page_names_that_page(machine, before, size):
    guard = first_unmapped_page(machine, KERNEL_IMAGE)
    with pytest.raises(GdbError):
        gdb_bytes(machine, guard, 1)  # GDB agrees that nothing is there
    addr = guard - before
    with pytest.raises(GdbError, match=f"read of {size} bytes at {addr:#x}: the page at "
                                       f"{guard:#x} is not mapped"):
        machine.read(addr, size)
    assert machine.read(guard - 16, 16) == gdb_bytes(machine, guard - 16, 16)


def test_a_page_table_read_of_a_device_page_reads_it_as_gdb_does(machine, monkeypatch):
    from harness.machine import state

    monkeypatch.setattr(state, "GDB_READ_LIMIT", 1024)  # a page is a "big" read now
    if machine.translate(0xFFFFF000).pa is None:
        pytest.skip("no local APIC mapped: the kernel maps it only on CPUs that have one "
                    "(a 486 has none)")
    assert machine.translate(0xFFFFF000).pa == 0xFEE00000, "the local APIC: a device, not RAM"
    # QEMU answers debug reads of the APIC with zeros (its gdbstub runs on no
    # CPU); what matters is that the harness asks GDB, as for any device.
    assert machine.read(0xFFFFF000, 4096) == gdb_bytes(machine, 0xFFFFF000, 4096)
