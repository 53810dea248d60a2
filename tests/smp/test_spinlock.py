"""Ticket spinlocks (kernel/spinlock.c): every online CPU hammers one
counter through lock_hammer (kernel/lock_tests.c), all starting together
behind a barrier, under MTTCG so the CPUs really run at once.  With the lock
the count read from guest RAM is exactly CPUs x rounds, every time, and the
lock's tickets show every acquisition served and no CPU ever found another
inside the critical section; the run also counts the acquisitions that
found the lock taken by another CPU, the proof the CPUs did overlap (the
first round is made to: its holder waits until every other CPU queues).
Without the lock the same hammer loses increments (one CPU's load-add-store
overwrites another's): the test can see a lock that does not exclude.  And
the uncontended lock+unlock costs what the per-CPU frame cache's budget
allows, counted in instructions under -icount."""

import pytest

# Rounds per CPU.  lock_hammer's first round overlaps by construction (its
# first holder keeps the lock until every other CPU waits); the rest overlap
# when the host's scheduler runs the vCPUs at once.  Contended, a ticket
# lock hands over in ticket order, and a waiter whose host thread is not
# running holds up the rest: with 4 vCPUs on 2 shared cores one contended
# run of 4,000 rounds took from 0.02 to 31 s, so smp=4 runs fewer.
LOCKED_ROUNDS = {2: 50_000, 4: 1_000}
# Unlocked, 4,000,000 each takes ~0.1 s and lost 35-45 % in every run seen.
UNLOCKED_ROUNDS = 4_000_000
UNLOCKED_TRIES = 3
# lock_bench_pairs: spin_lock + spin_unlock, uncontended, lockdebug=off:
# exactly 10 + 8 instructions (with the checker on, 120).  Exact, not a
# budget: one more is an uncontended release that pauses (the pause is for a
# waiter) or a lock that went out of line.
LOCK_PAIR_INSNS = 18
BENCH_PAIRS = 1000


def machines(*counts, cmdline=""):
    return [pytest.param(n, id=f"smp{n}" + (f"-{cmdline.replace('=', '-')}" if cmdline else ""),
                         marks=pytest.mark.machine(smp=n, mttcg=True, cmdline=cmdline))
            for n in counts]


def hammer(machine, kernel, rounds, use_lock):
    """Runs lock_hammer; returns the counter as guest RAM has it, after
    checking the entry returned the same."""
    returned = machine.call_value("lock_hammer", rounds, use_lock, timeout=120)
    counter = kernel.u32("lock_hammer_counter")
    assert returned == counter
    return counter


@pytest.mark.parametrize("count", machines(2, 4) + machines(2, cmdline="lockdebug=off"))
def test_with_the_lock_no_increment_is_lost(machine, kernel, count):
    rounds = LOCKED_ROUNDS[count]
    assert hammer(machine, kernel, rounds, 1) == count * rounds
    # The first round's holder saw every other CPU queue behind it.
    assert kernel.u32("lock_hammer_waits") >= count - 1
    assert kernel.u32("lock_hammer_breaches") == 0, "two CPUs were inside at once"
    # Every ticket handed out was served and the lock is free.
    lock = kernel.read_struct("spinlock", "hammer_lock")
    assert lock["next"] == lock["owner"] == (count * rounds) % 0x10000
    assert machine.records("LOCK") == [], "the order checker saw nothing wrong"
    assert [int(machine.evaluate(f"cpus[{i}].locks.depth"), 0) for i in range(count)] == \
        [0] * count


@pytest.mark.parametrize("count", machines(2, 4))
def test_without_the_lock_increments_are_lost(machine, kernel, count):
    expected = count * UNLOCKED_ROUNDS
    seen = []
    for _ in range(UNLOCKED_TRIES):
        seen.append(hammer(machine, kernel, UNLOCKED_ROUNDS, 0))
        assert seen[-1] <= expected
        if seen[-1] < expected:
            break
    assert seen[-1] < expected, f"{UNLOCKED_TRIES} unlocked runs lost nothing: {seen}"


@pytest.mark.machine(icount=True, cmdline="lockdebug=off")
def test_an_uncontended_lock_and_unlock_stay_cheap(machine):
    """The inline fast path (include/kernel/spinlock.h): every lock in the
    kernel pays it, so it stays small and exact."""
    cost = machine.call_value("lock_bench_pairs", BENCH_PAIRS)
    assert cost == LOCK_PAIR_INSNS * BENCH_PAIRS, f"{cost / BENCH_PAIRS} per lock+unlock"


CHECKER = [pytest.param(c, id=c or "lockdebug-on", marks=pytest.mark.machine(cmdline=c))
           for c in ("", "lockdebug=off")]


@pytest.mark.parametrize("cmdline", CHECKER)
def test_trylock_takes_only_a_free_lock(machine, kernel, cmdline):
    """lock_test_trylock: bit 0 took test_a free, bit 1 was refused it
    taken, bits 2-4 spin_held right (test_a held, test_b not, test_a not
    after its unlock); then test_b under it, and both let go."""
    assert machine.call_value("lock_test_trylock") == 0b11111
    lock = kernel.read_struct("spinlock", "test_a")
    assert (lock["next"], lock["owner"]) == (1, 1), "one ticket: the refusal took none"
    if cmdline == "":  # the checked unlock clears the holder (unchecked: left stale)
        assert (lock["cpu"], lock["caller"]) == (0xFF, 0)
    # With the checker, a trylocked lock orders what is taken under it.
    a, b = (int(machine.evaluate(f"(int) {c}"), 0) for c in ("LOCK_TEST_A", "LOCK_TEST_B"))
    noted = int(machine.evaluate(f"taken_under[{a}]"), 0)
    assert noted == ((1 << b) if cmdline == "" else 0)
    assert int(machine.evaluate("cpus[0].locks.depth"), 0) == 0


@pytest.mark.parametrize("cmdline", CHECKER)
def test_irqsave_turns_interrupts_off_and_gives_them_back(machine, kernel, cmdline):
    """From IF=1: off inside the lock (bit 0 clear), on again after (bit 1)."""
    assert machine.call_value("lock_test_irqsave") == 0b10
    if cmdline == "":  # the checked unlock clears the holder (unchecked: left stale)
        lock = kernel.read_struct("spinlock", "test_a")
        assert (lock["cpu"], lock["caller"]) == (0xFF, 0)
    assert int(machine.evaluate("cpus[0].locks.depth"), 0) == 0
