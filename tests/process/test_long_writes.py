"""A write() of any length is cut into 64-byte chunks with a preemption point
between them (interrupts are off in the kernel, so nothing else could break
it up): with preempt=on another process runs while a 4 MiB write is in
progress, and a kill pending for the writer ends it there.  Between two
preemption points the kernel does one chunk's work: at most CHUNK_INSNS
instructions of its own (counted with -icount), plus the time the UARTs take
to accept that chunk's bytes.  bigwrite writes zeros, the costliest bytes
(each is four in the OUT record)."""

import pytest

from harness.errors import CallStopped
from harness.targets.mmverify.processes import ProcessResult

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

CHUNK = 64
CHUNK_INSNS = 15_000  # measured: 4 000 + 63 * 135 = 12 500 (README, "Processes")


# Once, in legacy paging: chunking does not depend on the paging mode, and at a
# breakpoint the last chunk's OUT record can still sit in QEMU's UART FIFO
# (it drains only while the guest runs), a rare race this test already has.
@pytest.mark.machine(modules=["user/*"], cmdline="aslr=off paging=legacy")
def test_a_write_reaches_a_preemption_point_after_every_chunk(machine, userland):
    pid = userland.spawn("bigwrite", "1024")
    point = machine.symbol("sched_preempt_point")
    machine.break_at(point)
    written = []
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    stop = machine.last_stop
    while stop.addr == point:
        written.append(len(userland.output(pid)))  # what the write had sent by then
        stop = machine.cont()
    assert written == [CHUNK * k for k in range(1, 1024 // CHUNK)]
    assert [len(data) for who, data in userland.writes() if who == pid][:16] == [CHUNK] * 16
    assert userland.finished_since(userland.start)[pid].status == 0


def instructions_to_write(userland, size):
    pid = userland.spawn("bigwrite", f"{size} timed")
    userland.run()
    [said] = userland.claims("USER", pid=pid)
    assert said.int("ret") == size
    return said.int("insns")


@pytest.mark.machine(modules=["user/*"], cmdline="aslr=off", icount=True)
def test_kernel_work_between_preemption_points_is_bounded(machine, userland):
    """Small writes, so the host keeps up with the serial sockets and no
    instruction is spent waiting for a UART: the kernel's own work only."""
    if machine.records("CPU")[0]["tsc"] != "1":
        pytest.skip("this CPU model has no TSC to count instructions with (--cpu)")
    one, seventeen = instructions_to_write(userland, 1), instructions_to_write(userland, 17)
    per_byte = (seventeen - one) / 16
    assert 100 < per_byte < 160, f"{per_byte} instructions per byte"
    assert one + (CHUNK - 1) * per_byte <= CHUNK_INSNS


@pytest.mark.machine(modules=["user/*"], cmdline="aslr=off preempt=on", icount=True)
def test_another_process_runs_during_a_long_write_and_a_kill_ends_it(machine, userland):
    """killer spawns bigwrite (one 4 MiB write) and yields; the timer switches
    the writer out mid-write, killer says so, kills it and waits.  From the
    record channel: the writer's whole chunks, then killer's line while that
    write is unfinished, then the writer's end with not one chunk more."""
    mark = machine.mark()
    killer = userland.spawn("killer")
    results = userland.run()
    writer = killer + 1
    assert results == {killer: ProcessResult(killer, "killer", 0, False, "exit"),
                       writer: ProcessResult(writer, "bigwrite", -1, True, "killed")}
    events = [(r.tag, r.int("pid"), len(r.bytes("data")) if r.tag == "OUT" else 0)
              for r in machine.records(since=mark) if r.tag in ("OUT", "EXIT")]
    chunks = next(i for i, e in enumerate(events) if e != ("OUT", writer, CHUNK))
    assert 0 < chunks * CHUNK < 4 << 20, "stopped in the middle of the write"
    said = userland.claims("USER", pid=killer)
    assert [r.fields for r in said] == [
        {"prog": "killer", "pid": str(killer), "killing": str(writer)},
        {"prog": "killer", "pid": str(killer), "child": str(writer), "kill": "0",
         "status": "-1"}]
    assert events[chunks:] == [("OUT", killer, len(said[0].line) + 1), ("EXIT", writer, 0),
                               ("OUT", killer, len(said[1].line) + 1), ("EXIT", killer, 0)]


def test_kill_is_refused_for_a_process_that_is_not_a_child(userland):
    victim = userland.spawn("hello", "4")
    killer = userland.spawn("killer", str(victim))
    missing = userland.spawn("killer", "99")
    results = userland.run()
    assert results[victim] == ProcessResult(victim, "hello", 4, False, "exit")
    assert [r["kill"] for r in userland.claims("USER", pid=killer)] == ["-1"]   # -EPERM
    assert [r["kill"] for r in userland.claims("USER", pid=missing)] == ["-3"]  # -ESRCH
