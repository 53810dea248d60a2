"""A 6 GiB machine: QEMU puts 3 GiB of RAM below 4 GiB and 3 GiB at 4 GiB,
back to back in the RAM file.  The harness reads and writes RAM above 4 GiB,
and QEMU's own monitor (``xp``, which knows where QEMU put the RAM) sees the
same bytes; ranges crossing the hole below 4 GiB are refused.

The machines are booted fresh and stay at reset (physical memory needs no
kernel), but for the last test: a pooled 6 GiB machine, whose savevm and
loadvm take longer than any other QMP command (the wait grows with RAM,
harness.timeouts.snapshot)."""

import shutil

import pytest

from harness import MemoryRangeError
from harness.transport import rundir

GIB = 1 << 30
BELOW = 3 * GIB
HIGH = 1 << 32
HIGH_END = HIGH + 3 * GIB


def _shm_free() -> int:
    return shutil.disk_usage(rundir.base_dir()).free


# The RAM file is sparse, but a full tmpfs would kill QEMU with SIGBUS on the
# first page it cannot back: ask for room for all of it.
pytestmark = [
    pytest.mark.skipif(_shm_free() < 6 * GIB + (256 << 20),
                       reason=f"{rundir.base_dir()} has less than 6.25 GiB free for a 6 GiB "
                              "machine's RAM file"),
]


def monitor_words(machine, addr: int, count: int) -> list[int]:
    """``count`` 32-bit words at guest-physical ``addr`` as QEMU's monitor reads them."""
    out = machine.monitor(f"xp /{count}wx {addr:#x}")
    words: list[int] = []
    for line in out.splitlines():
        if ":" in line:
            words += [int(w, 16) for w in line.split(":", 1)[1].split()]
    assert len(words) == count, out
    return words


@pytest.fixture
def big(boot):
    return boot(memory="6G")


def test_ram_ranges_of_a_6g_machine(big):
    assert big.ram_ranges() == [(0, BELOW), (HIGH, HIGH_END)]
    assert big.physical_end() == BELOW


def test_ram_above_4g_written_by_the_harness_is_what_qemu_sees(big):
    for addr in (HIGH, HIGH + 0x12345670, HIGH_END - 16):  # first, middle, last words
        data = bytes((i * 37 + addr) & 0xFF ^ 0xA5 for i in range(16))
        big.write_phys(addr, data)
        assert big.read_phys(addr, 16) == data
        words = [int.from_bytes(data[i:i + 4], "little") for i in range(0, 16, 4)]
        assert monitor_words(big, addr, 4) == words, f"QEMU's monitor reads {addr:#x} the same"
        # where a wrong offset (the address less 4 GiB) would have put them: untouched
        assert monitor_words(big, addr - HIGH, 4) != words


@pytest.mark.parametrize(("addr", "size", "valid"), [
    (BELOW - 4, 8, (0, BELOW)),           # from low RAM into the hole
    (HIGH - 4, 8, (0, BELOW)),            # from the hole into high RAM
    (BELOW, 4, (0, BELOW)),               # in the hole
    (HIGH_END - 4, 8, (HIGH, HIGH_END)),  # past the end of high RAM
], ids=["into-hole", "out-of-hole", "in-hole", "past-end"])
def test_reads_outside_ram_ranges_are_refused(big, addr, size, valid):
    with pytest.raises(MemoryRangeError) as info:
        big.read_phys(addr, size)
    assert (info.value.addr, info.value.size, info.value.valid) == (addr, size, valid)
    assert "[0x0, 0xc0000000) and [0x100000000, 0x1c0000000)" in str(info.value)


def test_a_write_past_the_end_of_high_ram_is_refused_and_writes_nothing(big):
    before = monitor_words(big, HIGH_END - 4, 1)
    with pytest.raises(MemoryRangeError):
        big.write_phys(HIGH_END - 4, b"\x5a" * 8)
    assert monitor_words(big, HIGH_END - 4, 1) == before


@pytest.mark.machine(memory="6G")
def test_the_pool_snapshots_and_restores_a_6g_machine(machine, machine_pool):
    """The machine fixture saved the ready snapshot of 6 GiB (6 to 19 s here,
    by load: past the fixed 10 s QMP wait when busy); a restore puts back bytes a test
    changed below and above 4 GiB, and the kernel is at kernel_ready again."""
    assert machine.ram_ranges() == [(0, BELOW), (HIGH, HIGH_END)]
    addrs = (0x800000, HIGH + 0x12345000)
    before = [machine.read_phys(a, 16) for a in addrs]
    for a in addrs:
        machine.write_phys(a, b"\x5a" * 16)
    machine.cont(wait=False)  # the guest runs on from kernel_ready
    machine.interrupt()
    restores = machine_pool.restores
    try:
        again = machine_pool.acquire(machine.cfg)
        assert again is machine and machine_pool.restores == restores + 1
        assert [machine.read_phys(a, 16) for a in addrs] == before
        assert machine.registers("eip")["eip"] == machine.symbol("kernel_ready")
    finally:
        machine_pool.discard(machine)  # 6 GiB of /dev/shm: not kept for later tests
