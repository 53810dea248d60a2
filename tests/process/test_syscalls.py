"""System calls refuse bad user pointers with an error: no kernel fault, no
kill, the process goes on."""

import pytest

pytestmark = pytest.mark.machine(modules=["user/*"])


def test_every_bad_pointer_is_refused(machine, userland):
    pid = userland.spawn("badptrs")
    r = userland.run()[pid]
    assert not r.killed and r.status == 0
    cases = [rec for rec in userland.claims("USER") if rec.get("call")]
    assert len(cases) >= 20
    assert {rec["ret"] for rec in cases} == {"-14"}
    assert {rec["call"] for rec in cases} == {"write", "spawn-name", "spawn-args", "exec-name",
                                              "exec-args"}
    assert machine.call("agent_nop", 3) == 3


def test_copy_faults_are_fixups_not_panics(machine, userland, kernel):
    before = kernel.fault_stats()["by_action"]
    userland.spawn("badptrs")
    userland.run()
    after = kernel.fault_stats()["by_action"]
    assert after[1] > before[1], "unmapped user memory: the copy was fixed up"
    assert after[3] == before[3], "no panic"


def test_spawn_of_a_missing_program_fails_cleanly(machine, userland):
    scratch = machine.symbol("agent_scratch")
    machine.write(scratch, b"no-such-program\0")
    assert machine.call("proc_spawn", scratch, 0, 0) == -2  # -ENOENT
