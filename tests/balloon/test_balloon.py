"""The virtio balloon on a 128 MiB guest, judged from outside: QEMU's
query-balloon, the PMM's bitmap and counters and the frame table read from
guest RAM, every address space's page tables walked on the host, the RAM
file's holes (QEMU discards the frames the guest gives it)."""

import os
import re
import time

import pytest

from harness.decode.frames import FRAME_BALLOON
from harness.errors import ConfigError, QmpError
from harness.targets.mmverify.invariants import mapped_frames

pytestmark = pytest.mark.machine(memory="128M", balloon=True)

MIB = 1 << 20
FRAMES_PER_MIB = 256
RAM_MIB = 128
RECLAIM_RESERVE = 64  # mm/reclaim.h


def balloon_frames(kernel) -> list[int]:
    """Frame numbers flagged FRAME_BALLOON in the frame table."""
    return [pfn for pfn, info in kernel.frame_table().held() if info.flags & FRAME_BALLOON]


def balloon_stats(kernel) -> dict[str, int]:
    return kernel.read_struct("balloon_stats", "balloon_stats")


def holes(machine, pfns: list[int]) -> list[int]:
    """Those of ``pfns`` whose 4 KiB in the guest's RAM file hold no data
    (QEMU punched them out when the guest inflated)."""
    fd = os.open(machine.qemu.run_dir / "ram", os.O_RDONLY)
    try:
        out = []
        for pfn in pfns:
            try:
                data_at = os.lseek(fd, pfn << 12, os.SEEK_DATA)
            except OSError:  # ENXIO: nothing but hole up to the end
                data_at = 1 << 62
            if data_at >= (pfn + 1) << 12:
                out.append(pfn)
        return out
    finally:
        os.close(fd)


def run_while(machine, waiting, timeout: float = 10.0) -> None:
    """Let the guest run (its idle loop is a safe point) while ``waiting()``
    holds, at most ``timeout`` seconds; then stop it."""
    machine.cont(wait=False)
    try:
        deadline = time.monotonic() + timeout
        while waiting() and time.monotonic() < deadline:
            machine.drain_serial()  # a guest printing a record waits for room
            time.sleep(0.01)
    finally:
        machine.interrupt()


def resize(machine, mib: int) -> None:
    machine.balloon(mib)
    machine.run_until_balloon(mib)


def test_inflating_to_32m_takes_96m_of_frames_nobody_maps(machine, kernel):
    free_before = kernel.pmm_stats()["free_frames"]
    assert machine.query_balloon() == RAM_MIB * MIB
    mark = machine.mark()
    resize(machine, 32)
    assert machine.query_balloon() == 32 * MIB
    taken = (RAM_MIB - 32) * FRAMES_PER_MIB
    assert kernel.pmm_stats()["free_frames"] == free_before - taken
    frames = balloon_frames(kernel)
    assert len(frames) == taken
    table = kernel.frame_table()
    assert {(table[pfn].refs, table[pfn].flags) for pfn in frames} == {(1, FRAME_BALLOON)}
    used, reserved = kernel.pmm_bitmaps()
    assert all(used[pfn] and not reserved[pfn] for pfn in frames)
    mapped = mapped_frames(kernel)
    assert [(pfn, mapped[pfn]) for pfn in frames if pfn in mapped] == []
    assert holes(machine, frames) == frames, "QEMU was told every frame and discarded it"
    stats = balloon_stats(kernel)
    assert (stats["present"], stats["target"], stats["actual"], stats["inflated"],
            stats["deflated"], stats["batches"]) == (1, taken, taken, taken, 0, taken // 256)
    [record] = machine.records("BALLOON", since=mark)
    assert record.fields == {"target": str(taken), "actual": str(taken),
                             "inflated": str(taken), "deflated": "0", "short": "0"}


def test_deflating_returns_every_frame(machine, kernel):
    used_before, _ = kernel.pmm_bitmaps()
    free_before = kernel.pmm_stats()["free_frames"]
    resize(machine, 32)
    resize(machine, RAM_MIB)
    assert machine.query_balloon() == RAM_MIB * MIB
    assert kernel.pmm_stats()["free_frames"] == free_before
    used_after, _ = kernel.pmm_bitmaps()
    assert used_after.value == used_before.value, "the very frames came back"
    assert balloon_frames(kernel) == []
    stats = balloon_stats(kernel)
    taken = (RAM_MIB - 32) * FRAMES_PER_MIB
    assert (stats["actual"], stats["inflated"], stats["deflated"]) == (0, taken, taken)


def test_inflate_deflate_cycles_lose_nothing(machine, kernel):
    used_before, _ = kernel.pmm_bitmaps()
    free_before = kernel.pmm_stats()["free_frames"]
    for mib in (96, 32, 64, 120, 40, RAM_MIB, 33, RAM_MIB):
        resize(machine, mib)
        held = (RAM_MIB - mib) * FRAMES_PER_MIB
        assert kernel.pmm_stats()["free_frames"] == free_before - held, f"at {mib} MiB"
        frames = balloon_frames(kernel)
        assert len(frames) == held, f"at {mib} MiB"
        table = kernel.frame_table()
        assert all(table[pfn].refs == 1 for pfn in frames)
    used_after, _ = kernel.pmm_bitmaps()
    assert used_after.value == used_before.value


def test_a_target_beyond_free_memory_stops_at_the_reclaim_reserve(machine, kernel):
    """Asked for nearly all of RAM, the balloon takes what is free down to
    the reserve the kernel keeps, says so, and gives it all back later."""
    free_before = kernel.pmm_stats()["free_frames"]
    mark = machine.mark()
    machine.balloon(1)
    run_while(machine, lambda: not machine.records("BALLOON", since=mark))
    [record] = machine.records("BALLOON", since=mark)
    free_now = kernel.pmm_stats()["free_frames"]
    assert free_now == RECLAIM_RESERVE
    held = free_before - free_now
    assert record.fields == {"target": str((RAM_MIB - 1) * FRAMES_PER_MIB), "actual": str(held),
                             "inflated": str(held), "deflated": "0", "short": "1"}
    assert machine.query_balloon() == RAM_MIB * MIB - held * 4096
    assert len(balloon_frames(kernel)) == held
    assert balloon_stats(kernel)["short_of_memory"] == 1
    mark = machine.mark()
    resize(machine, RAM_MIB)
    assert kernel.pmm_stats()["free_frames"] == free_before
    [back] = machine.records("BALLOON", since=mark)
    assert back.fields == {"target": "0", "actual": "0", "inflated": "0",
                           "deflated": str(held), "short": "0"}


def test_guest_statistics_reach_the_host(machine, kernel):
    """The guest answers QEMU's polls: what QEMU shows is the guest's state
    after the balloon took 64 MiB (the stats sent at boot said otherwise)."""
    resize(machine, 64)
    pmm = kernel.pmm_stats()  # the idle guest changes nothing while polled
    machine.poll_guest_stats(1)
    run_while(machine, lambda: machine.guest_stats()["stats"]["stat-free-memory"] !=
              pmm["free_frames"] * 4096)
    reply = machine.guest_stats()
    assert reply["last-update"] != 0
    stats = reply["stats"]
    assert stats["stat-free-memory"] == pmm["free_frames"] * 4096
    # Linux's meaning: the RAM the guest has, the balloon's frames (counted
    # in the frame table, not the driver's counter) not.
    held = len(balloon_frames(kernel))
    assert held == (RAM_MIB - 64) * FRAMES_PER_MIB
    assert stats["stat-total-memory"] == (pmm["usable_frames"] - held) * 4096
    assert (stats["stat-swap-in"], stats["stat-swap-out"], stats["stat-major-faults"]) == (0, 0, 0)
    assert balloon_stats(kernel)["stats_updates"] >= 2  # the first at boot, then the poll's


@pytest.mark.machine(memory="128M", balloon=False)
def test_a_machine_without_the_device(machine, kernel):
    assert machine.records("BALLOON") == [] and machine.records("VIRTIO") == []
    assert balloon_stats(kernel)["present"] == 0
    with pytest.raises(ConfigError, match="no balloon device"):
        machine.balloon(32)
    with pytest.raises(QmpError, match="balloon"):
        machine.qemu.command("balloon", value=32 * MIB)
    machine.cont(wait=False)  # the idle loop's safe point has nothing to do
    machine.interrupt()
    assert machine.records("BALLOON") == []


def pic_requests(machine) -> int:
    """The 16 ISA lines' interrupt requests (IRR) as QEMU's 8259s hold them."""
    text = machine.monitor("info pic")
    master = int(re.search(r"pic0: irr=([0-9a-f]+)", text)[1], 16)
    slave = int(re.search(r"pic1: irr=([0-9a-f]+)", text)[1], 16)
    return master | slave << 8


def test_the_driver_listens_on_the_line_the_device_raises(machine, kernel):
    """QEMU's PICs say which line a target change raises; the kernel must
    have found that line (through the chipset's PIRQ routing) and unmasked it."""
    [virtio] = machine.records("VIRTIO")
    line = int(virtio.fields["irq"])
    assert not pic_requests(machine) >> line & 1
    machine.balloon(64)
    assert pic_requests(machine) >> line & 1, "the config change raised the driver's line"
    assert 8 <= line < 14
    slave_mask = int(re.search(r"pic1: irr=\w+ imr=([0-9a-f]+)", machine.monitor("info pic"))[1],
                     16)
    master_mask = int(re.search(r"pic0: irr=\w+ imr=([0-9a-f]+)",
                                machine.monitor("info pic"))[1], 16)
    assert not slave_mask >> (line - 8) & 1 and not master_mask >> 2 & 1, "line and cascade open"
    assert balloon_stats(kernel)["irqs"] == 0  # interrupts are off at kernel_ready
    machine.run_until_balloon(64)  # the idle loop, interrupts off: the safe point reads the ISR
    assert not pic_requests(machine) >> line & 1, "the change was acknowledged, the line is low"


def test_an_inflation_short_of_memory_resumes_at_a_safe_point_once_frames_are_free(
        machine, kernel):
    """Every frame held by the kernel (agent_pmm_exhaust): the balloon can
    take none, reports so, and waits; once the frames are back, the idle
    loop's next turn carries the same target out, with no change from the host."""
    free_before = kernel.pmm_stats()["free_frames"]
    assert machine.call("agent_pmm_exhaust") == free_before
    mark = machine.mark()
    machine.balloon(64)
    run_while(machine, lambda: not machine.records("BALLOON", since=mark))
    held = (RAM_MIB - 64) * FRAMES_PER_MIB
    [short] = machine.records("BALLOON", since=mark)
    assert short.fields == {"target": str(held), "actual": "0", "inflated": "0",
                            "deflated": "0", "short": "1"}
    assert machine.query_balloon() == RAM_MIB * MIB
    assert machine.call("agent_pmm_release") == free_before
    mark = machine.mark()
    machine.run_until_balloon(64)
    [done] = machine.records("BALLOON", since=mark)
    assert done.fields == {"target": str(held), "actual": str(held), "inflated": str(held),
                           "deflated": "0", "short": "0"}
    assert kernel.pmm_stats()["free_frames"] == free_before - held


def test_a_withdrawn_target_is_forgotten_and_the_same_target_asked_again_is_answered(
        machine, kernel):
    """Short of memory at a target, then the host sets the target back to
    what the balloon holds: the driver shows that target and nothing is
    pending; asked for the first target again, still short, it answers with
    a record of its own rather than taking it for the old request."""
    assert machine.call("agent_pmm_exhaust") > 0
    mark = machine.mark()
    machine.balloon(64)
    run_while(machine, lambda: not machine.records("BALLOON", since=mark))
    [short] = machine.records("BALLOON", since=mark)
    assert short.fields["short"] == "1"
    machine.balloon(RAM_MIB)  # withdrawn: the target is what the balloon holds, 0
    run_while(machine, lambda: True, timeout=0.5)  # the idle loop polls many times meanwhile
    assert (balloon_stats(kernel)["target"], balloon_stats(kernel)["actual"]) == (0, 0)
    mark = machine.mark()
    machine.balloon(64)
    run_while(machine, lambda: not machine.records("BALLOON", since=mark))
    [again] = machine.records("BALLOON", since=mark)
    assert again.fields == short.fields
    assert balloon_stats(kernel)["short_of_memory"] == 2


def test_a_device_that_keeps_a_buffer_is_reset_and_every_frame_comes_back(machine, kernel):
    """The inflate queue's notifications are sent to a queue the device does
    not have (its index rewritten from outside), so the device never returns
    the buffer: after its time bound the driver resets the device (it can no
    longer discard a frame the guest uses again), gives back every balloon
    frame, the batch in flight included, and stops polling the device."""
    free_before = kernel.pmm_stats()["free_frames"]
    resize(machine, 96)
    held = (RAM_MIB - 96) * FRAMES_PER_MIB
    assert len(balloon_frames(kernel)) == held
    queues = machine.symbol("queues")  # struct virtq[3]; index is the first field
    machine.write(queues, (100).to_bytes(2, "little"))
    mark = machine.mark()
    machine.balloon(64)
    run_while(machine, lambda: len(machine.records("BALLOON", since=mark)) < 2)
    assert [r.fields for r in machine.records("BALLOON", since=mark)] == [
        {"error": "inflate-timeout", "value": "256"},
        {"device": "reset", "released": str(held + 256)}]
    assert balloon_frames(kernel) == []
    assert kernel.pmm_stats()["free_frames"] == free_before
    stats = balloon_stats(kernel)
    assert (stats["present"], stats["actual"], stats["errors"]) == (0, 0, 1)
    mark = machine.mark()
    machine.balloon(32)  # the device is gone: no safe point looks at it again
    run_while(machine, lambda: True, timeout=0.5)
    assert machine.records("BALLOON", since=mark) == []
    assert balloon_frames(kernel) == []
