"""Records stay whole when several CPUs write at once (lib/kprintf.c: one
record at a time on the serial lines).  Every CPU leaves a barrier together
and writes LINES records; the record channel, read on the host, must hold
exactly those lines, each once, and nothing else.  Two waiters of a deadlock
that reached the spin limit together once interleaved their LOCK records
byte by byte (tests/smp/test_lockdep.py)."""

import re

import pytest

LINES = 300


@pytest.mark.parametrize("count", [pytest.param(n, id=f"smp{n}", marks=pytest.mark.machine(
    smp=n, mttcg=True)) for n in (2, 4)])
def test_records_written_at_once_by_every_cpu_come_out_whole(machine, count):
    mark = machine.mark()
    assert machine.call_value("record_test_race", LINES, timeout=120) == count
    text = machine.record_channel.text(mark)
    lines = text.splitlines()
    assert all(re.fullmatch(r"RACE cpu=\d+ line=\d+", line) for line in lines), \
        [line for line in lines if not re.fullmatch(r"RACE cpu=\d+ line=\d+", line)][:3]
    seen = [(r.int("cpu"), r.int("line")) for r in machine.records("RACE", since=mark)]
    assert sorted(seen) == [(cpu, line) for cpu in range(count) for line in range(LINES)]
    for cpu in range(count):  # each CPU's own lines in its order
        assert [line for c, line in seen if c == cpu] == list(range(LINES))
