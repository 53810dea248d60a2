"""The attack suite: user programs that attack the kernel's boundaries.  For
each, the right refusal or kill, the kernel up, a bystander untouched, and no
frame leaked."""

import pytest

pytestmark = pytest.mark.machine(modules=["user/*"])


def attack(userland, program, args=""):
    bystander = userland.spawn("bystander", "40")
    pid = userland.spawn(program, args)
    results = userland.run(timeout=60)
    assert results[bystander].status == 0, "the bystander's memory is untouched"
    return results, pid


@pytest.mark.parametrize("program,reason", [
    ("readkernel", "kernel-address"), ("writekernel", "kernel-address"),
    ("jumpkernel", "kernel-address"), ("writetext", "write-to-read-only"),
    ("stackoverflow", "stack-overflow"),
])
def test_kills(userland, no_leaks, program, reason):
    results, pid = attack(userland, program)
    assert results[pid].killed and results[pid].reason == reason


@pytest.mark.parametrize("program", ["badptrs", "sbrkattack", "shmattack", "sysattack"])
def test_refusals(machine, userland, no_leaks, program):
    results, pid = attack(userland, program)
    assert not results[pid].killed
    summary = [r for r in userland.claims("USER") if r["prog"] == program and r.get("failures")]
    assert summary and summary[-1]["failures"] == "0", [
        r.line for r in userland.claims("USER") if r["prog"] == program]
    assert results[pid].status == 0


def test_sbrk_stops_at_the_page_limit(machine, userland, no_leaks):
    attack(userland, "sbrkattack")
    limit = next(r for r in userland.claims("USER") if r.get("case") == "limit")
    assert 4 <= limit.int("mib") <= 16, "PROC_MAX_PAGES (16 MiB) minus stack and image"


@pytest.mark.parametrize("mode", ["deep", "wide"])
def test_spawn_bomb_is_refused_and_cleaned_up(machine, userland, kernel, no_leaks, mode):
    results, pid = attack(userland, "bomb", mode)
    assert results[pid].status == 0
    refused = [r for r in userland.claims("USER") if r["prog"] == "bomb" and r.get("refused")]
    assert refused and refused[0]["refused"] == "-11", "spawn said -EAGAIN when full"
    assert not userland.processes(), "every process ended"
