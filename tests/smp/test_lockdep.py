"""What a lock gone wrong reports (kernel/lockdep.c, kernel/spinlock.c),
through the triggers in kernel/lock_tests.c, whose two CPUs take their steps
in an order set by guest flags (the same on every run):

- inversion: CPU 0 takes test_a then test_b and lets both go, then CPU 1
  takes test_b then test_a.  Nothing deadlocks, so only the order checker
  can name it; with lockdebug=off the run ends normally and unnamed;
- held: CPU 1 takes test_a and stops for good; CPU 0 waits for it until
  spin_limit pauses, then names the holder;
- deadlock: each CPU holds one and takes the other's, with the checker off:
  it must end in the spin record, not hang.

Every lock site in a record is named by the function holding it, from
kernel.elf on the host (harness.targets.mmverify.functions), and what the
records say is checked against guest RAM (the lock, the CPUs' held stacks)
and, for the inversion, against every CPU's backtrace in the failure
artifact (cpus.txt) written at panic_exit."""

import re

import pytest

from harness import CallStopped, GuestPanic
from harness.machine import artifacts
from harness.targets.mmverify.build import REPO
from harness.targets.mmverify.functions import caller_functions, function_table

# A waiter reports after 2^20 pauses, not the kernel's default 2^24: the held
# and deadlock triggers wait for that report, 16 times sooner (a pause lets the
# other vCPU run under -icount, so a holder that moves still gets its turns).
# Every two-CPU machine here has it, so the inversion tests share their
# pooled machines (one configuration each) with those.
TEST_SPIN_LIMIT = 1 << 20
LIMIT = f"spin_limit={TEST_SPIN_LIMIT}"


def two_cpus(*variants):
    """(mttcg, icount) machines at smp=2, each with its cmdline."""
    return [pytest.param(cmdline, id=f"{'icount' if icount else 'mttcg'}"
                         + (f"-{cmdline.replace('=', '-')}" if cmdline else ""),
                         marks=pytest.mark.machine(smp=2, icount=icount, mttcg=not icount,
                                                   cmdline=f"{cmdline} {LIMIT}".strip()))
            for icount, cmdline in variants]


@pytest.fixture
def functions(firmware):
    return function_table(firmware.kernel)


def stop_at_panic_exit(machine, trigger):
    """Runs a trigger that must panic; returns with the machine stopped at
    panic_exit, every other CPU parked, as a failure artifact would see it."""
    machine.break_at(machine.symbol("panic_exit"))
    with pytest.raises(CallStopped):
        machine.call(trigger, timeout=120)


def finish_panic(machine):
    machine.delete_breakpoints()
    with pytest.raises(GuestPanic):
        machine.cont()


def mm_cpus_holding(machine):
    """``mm cpus`` (harness/gdbcmds/cpu_cmds.py) in the machine's GDB: its
    text, and its (cpu, class, function of the lock site) rows."""
    machine.gdb.console(f"source {REPO / 'harness' / 'gdbcmds' / 'mm.py'}")
    text = machine.gdb.console("mm cpus")
    return text, [(int(c), name, where) for c, name, where in
                  re.findall(r"^cpu (\d+) holds (\S+) at (\w+)", text, re.M)]


def backtrace_functions(cpus_txt, cpu):
    """The function of each frame of one CPU's backtrace in cpus.txt."""
    block = re.search(rf"^CPU {cpu} .*?(?=^CPU \d|\Z)", cpus_txt, re.M | re.S)[0]
    return re.findall(r"^\s+#\d+ (\S+)", block, re.M)


def in_order(items, wanted):
    """Whether ``wanted`` appears in ``items`` in that order, adjacent."""
    return any(items[i:i + len(wanted)] == wanted for i in range(len(items)))


@pytest.mark.parametrize("machine_kind", two_cpus((False, ""), (True, "")))
def test_an_inversion_names_both_classes_and_both_sites(machine, functions, tmp_path,
                                                         machine_kind):
    stop_at_panic_exit(machine, "lockdebug_test_inversion")
    [lock] = machine.records("LOCK")
    assert (lock["error"], lock["first"], lock["second"], lock.int("cpu")) == (
        "inversion", "test_b", "test_a", 1), "CPU 1, holding test_b, takes test_a"
    assert caller_functions(lock, functions) == {"caller": "inversion_cpu1",
                                                 "earlier_caller": "inversion_cpu0"}
    [panic] = machine.records("PANIC")
    assert (panic["where"], panic.int("cpu")) == ("lockdep_acquire", 1)
    # Guest RAM agrees: CPU 1 holds test_b alone (test_a was never taken),
    # CPU 0 holds nothing.
    depth = [int(machine.evaluate(f"cpus[{i}].locks.depth"), 0) for i in (0, 1)]
    assert depth == [0, 1]
    assert int(machine.evaluate("(unsigned int) cpus[1].locks.at[0].lock"), 0) == \
        machine.symbol("test_b")
    # The artifact a failing test would leave: CPU 1 stopped in the panic it
    # raised from inside spin_lock, CPU 0 parked by its NMI.
    artifacts.collect(machine, tmp_path)
    cpus_txt = (tmp_path / "cpus.txt").read_text()
    cpu1 = backtrace_functions(cpus_txt, 1)
    assert in_order(cpu1, ["panic_exit", "panic_at", "lockdep_acquire"]), cpu1
    assert in_order(cpu1, ["spin_lock_debug", "spin_lock", "inversion_cpu1"]), cpu1
    assert cpu1.index("lockdep_acquire") < cpu1.index("spin_lock_debug"), cpu1
    cpu0 = backtrace_functions(cpus_txt, 0)
    assert in_order(cpu0, ["halt_forever", "panic_park"]), cpu0
    # mm cpus shows the same held stack, the site by function.
    assert mm_cpus_holding(machine)[1] == [(1, "test_b", "inversion_cpu1")]
    finish_panic(machine)


@pytest.mark.parametrize("machine_kind", two_cpus((False, "lockdebug=off"),
                                                  (True, "lockdebug=off")))
def test_without_the_checker_the_inversion_goes_unnamed(machine, machine_kind):
    """The proof that the checker, not luck, names the inversion: the same
    trigger with lockdebug=off runs to its end (the two orders never
    overlap), with no record and no panic, and nobody counts held locks."""
    assert machine.call_value("lockdebug_test_inversion", timeout=120) == 1
    assert machine.records("LOCK") == [] and machine.records("PANIC") == []
    assert [int(machine.evaluate(f"cpus[{i}].locks.depth"), 0) for i in (0, 1)] == [0, 0]
    text, rows = mm_cpus_holding(machine)
    assert rows == [] and "locks held: not counted (lockdebug=off)" in text


@pytest.mark.parametrize("machine_kind", two_cpus((False, ""), (False, "lockdebug=off"),
                                                  (True, "")))
def test_a_lock_held_too_long_names_its_holder(machine, kernel, functions, machine_kind):
    """Checked and unchecked (lockdebug=off: the inline fast path keeps the
    holder's CPU and site), with real parallelism and under -icount."""
    assert int(machine.evaluate("spin_limit"), 0) == TEST_SPIN_LIMIT
    stop_at_panic_exit(machine, "lockdebug_test_held")
    [lock] = machine.records("LOCK")
    assert (lock["error"], lock["lock"], lock.int("holder_cpu"), lock.int("waiter_cpu")) == (
        "spin", "test_a", 1, 0)
    assert caller_functions(lock, functions) == {"holder_caller": "held_cpu1",
                                                 "waiter_caller": "held_cpu0"}
    [panic] = machine.records("PANIC")
    assert (panic["where"], panic.int("cpu")) == ("spin_too_long", 0)
    # The lock in guest RAM: CPU 1 has ticket 0 (served), CPU 0 ticket 1
    # (never served); the holder fields are the ones the record names.
    held = kernel.read_struct("spinlock", "test_a")
    assert (held["next"], held["owner"], held["cpu"], held["caller"]) == (
        2, 0, 1, lock.int("holder_caller"))
    assert int(machine.evaluate("cpus[1].parked"), 0) == 1, "the holder parked by the panic"
    finish_panic(machine)


@pytest.mark.parametrize("machine_kind", two_cpus((False, "lockdebug=off"),
                                                  (True, "lockdebug=off")))
def test_a_deadlock_ends_in_the_spin_record_not_a_hang(machine, functions, machine_kind):
    """Both orders at once: CPU 0 holds test_a and wants test_b, CPU 1 the
    reverse.  Whichever reaches spin_limit first names the other as holder
    and panics (under MTTCG the other may report too before its NMI)."""
    with pytest.raises(GuestPanic):
        machine.call("lockdebug_test_deadlock", timeout=120)
    records = machine.records("LOCK")
    assert 1 <= len(records) <= 2, records
    wanted = {0: "test_b", 1: "test_a"}
    for lock in records:
        waiter = lock.int("waiter_cpu")
        assert (lock["error"], lock["lock"], lock.int("holder_cpu")) == (
            "spin", wanted[waiter], 1 - waiter)
        assert caller_functions(lock, functions) == {
            "holder_caller": f"deadlock_cpu{1 - waiter}", "waiter_caller": f"deadlock_cpu{waiter}"}
    [panic] = machine.records("PANIC")
    assert (panic["where"], panic.int("cpu")) == ("spin_too_long", records[0].int("waiter_cpu"))


def test_a_lock_held_into_a_preemption_point_is_named(machine, functions):
    """sched_preempt_point opens an interrupt window: a lock held there
    would be taken by an interrupt handler on its own CPU."""
    with pytest.raises(GuestPanic):
        machine.call("lockdebug_test_preempt_holding")
    [lock] = machine.records("LOCK")
    assert (lock["error"], lock["where"], lock["lock"], lock.int("cpu")) == (
        "held-at-sti", "sched_preempt_point", "test_a", 0)
    assert caller_functions(lock, functions) == {"caller": "lockdebug_test_preempt_holding"}


def test_releasing_a_lock_nobody_holds_is_named(machine, functions):
    with pytest.raises(GuestPanic):
        machine.call("lockdebug_test_unlock_free")
    [lock] = machine.records("LOCK")
    assert (lock["error"], lock["lock"], lock.int("cpu"), lock["holder_cpu"]) == (
        "not-held", "test_b", 0, "none")
    assert caller_functions(lock, functions) == {"caller": "lockdebug_test_unlock_free"}


def test_a_lock_taken_twice_by_one_cpu_is_named(machine, kernel, functions):
    """Named before the second ticket is taken: the lock has handed out one."""
    stop_at_panic_exit(machine, "lockdebug_test_recursive")
    [lock] = machine.records("LOCK")
    assert (lock["error"], lock["lock"], lock.int("cpu")) == ("recursive", "test_a", 0)
    assert caller_functions(lock, functions) == {"caller": "lockdebug_test_recursive",
                                                 "earlier_caller": "lockdebug_test_recursive"}
    assert lock.int("caller") != lock.int("earlier_caller"), "two sites"
    held = kernel.read_struct("spinlock", "test_a")
    assert (held["next"], held["owner"], held["caller"]) == (1, 0, lock.int("earlier_caller"))
    assert int(machine.evaluate("cpus[0].locks.depth"), 0) == 1
    finish_panic(machine)


@pytest.mark.parametrize("trigger", ["lockdebug_test_depth", "lockdebug_test_trylock_depth"])
def test_a_ninth_lock_held_is_named(machine, functions, trigger):
    """Taken by spin_lock or by spin_trylock: the held stack never grows
    past its eight entries (the next member of struct cpu is not touched)."""
    stop_at_panic_exit(machine, trigger)
    [lock] = machine.records("LOCK")
    assert (lock["error"], lock["lock"], lock.int("cpu")) == ("depth", "test_a", 0)
    assert caller_functions(lock, functions) == {"caller": trigger}
    assert int(machine.evaluate("cpus[0].locks.depth"), 0) == 8, "eight held, the ninth refused"
    finish_panic(machine)


def test_orders_that_agree_are_not_named(machine, functions):
    """test_b under test_a, test_a and test_b under test_c: one order, no
    record; the checker noted each pair (guest RAM), the first sighting's
    site kept when the same order comes again from elsewhere, and nothing
    is left held."""
    machine.call("lock_test_consistent_orders")
    machine.call("lock_test_orders_again")
    assert machine.records("LOCK") == [] and machine.records("PANIC") == []
    a, b, c = (int(machine.evaluate(f"(int) LOCK_TEST_{x}"), 0) for x in "ABC")
    assert [int(machine.evaluate(f"taken_under[{x}]"), 0) for x in (a, b, c)] == [
        1 << b, 0, 1 << a | 1 << b]
    first = int(machine.evaluate(f"(unsigned int) first_site[{a}][{b}]"), 0)
    assert functions.name_at(first) == "lock_test_consistent_orders"
    assert int(machine.evaluate("cpus[0].locks.depth"), 0) == 0


def test_a_lock_of_no_known_class_is_named_none(machine):
    with pytest.raises(GuestPanic):
        machine.call("lockdebug_test_bad_class")
    [lock] = machine.records("LOCK")
    assert (lock["error"], lock["lock"], lock["holder_cpu"]) == ("not-held", "none", "none")


def test_a_lock_released_out_of_order_leaves_the_others_in_order(machine, kernel):
    """test_a, test_b, test_c taken, test_a let go first: the held stack is
    test_b then test_c, each with its site; then both go, in any order."""
    machine.call("lock_test_hold_abc_drop_a")
    stack = [(int(machine.evaluate(f"(unsigned int) cpus[0].locks.at[{i}].lock"), 0),
              int(machine.evaluate(f"cpus[0].locks.at[{i}].cls"), 0)) for i in (0, 1)]
    b, c = (int(machine.evaluate(f"(int) LOCK_TEST_{x}"), 0) for x in "BC")
    assert int(machine.evaluate("cpus[0].locks.depth"), 0) == 2
    assert stack == [(machine.symbol("test_b"), b), (machine.symbol("test_c"), c)]
    machine.call("lock_test_drop_bc")
    assert int(machine.evaluate("cpus[0].locks.depth"), 0) == 0
    assert machine.records("LOCK") == []
