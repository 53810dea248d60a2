"""exec(name, args): the caller's image replaced by a module's, pid and
parent kept; on failure the caller goes on untouched.  Judged from the
kernel's records, its process table and the PMM's counters."""

import pytest

from harness import CallStopped
from tests.process.pmm_budget import give_back

# zswap=off (and no swap disk): swap is off, so RAM emptied on purpose stays
# empty; with swap, reclaim would make room (tests/swap covers that).
pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off zswap=off")

ENOENT, ENOMEM = -2, -12


def free_frames(machine, kernel):
    machine.call("heap_trim")
    return kernel.pmm_stats()["free_frames"]


def test_exec_replaces_the_image_and_keeps_the_pid(machine, userland, kernel):
    """execer attaches a shared segment, then execs `hello 42`: the same pid
    ends as hello with status 42, one SPAWN and one EXEC record, and every
    frame (the old image's, the segment's) comes back."""
    before = free_frames(machine, kernel)
    mark = machine.mark()
    pid = userland.spawn("execer", "hello 42")
    # hello's first system call: the process as exec left it.
    machine.break_at("syscall_dispatch", condition="current->name[0] == 'h'")
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    [entry] = kernel.process_table()
    user_pages = list(userland.address_space(pid).mappings(0, 0xC0000000))
    assert entry["pages"] == len(user_pages), "the count is the new image's"
    assert all(a[0] == -1 for a in entry["shm"]), "the attachment went with the old image"
    assert [s["refs"] for s in kernel.shm_segments()] == [1], "only the creator's hold is left"
    machine.delete_breakpoints()
    machine.cont()
    results = userland.history()
    assert list(results) == [pid]
    assert (results[pid].name, results[pid].killed, results[pid].status) == ("hello", False, 42)
    [exec_record] = machine.records("EXEC", since=mark)
    assert (exec_record.int("pid"), exec_record["name"]) == (pid, "hello")
    assert len(machine.records("SPAWN", since=mark)) == 1
    assert [c.int("pid") for c in userland.claims("USER") if c["prog"] == "hello"] == [pid]
    assert not [c for c in userland.claims("USER") if c["prog"] == "execer"], "exec returned"
    assert kernel.shm_segments() == []
    assert machine.records("VMM", since=mark) == [], "no refused mapping call"
    assert free_frames(machine, kernel) == before


def test_exec_gives_the_new_image_its_arguments(machine, userland):
    pid = userland.spawn("execer", "hello 1 2 3")
    results = userland.run()
    assert results[pid].status == 1
    [claim] = [c for c in userland.claims("USER") if c["prog"] == "hello"]
    assert claim.int("argc") == 4


def test_exec_of_a_missing_module_returns_enoent_and_the_caller_goes_on(machine, userland):
    mark = machine.mark()
    pid = userland.spawn("execer", "nosuchprogram")
    results = userland.run()
    assert (results[pid].name, results[pid].status) == ("execer", 3)
    [claim] = [c for c in userland.claims("USER") if c["prog"] == "execer"]
    assert claim.int("rc") == ENOENT
    assert machine.records("EXEC", since=mark) == []



@pytest.mark.parametrize("frames_for_exec", [0, 1, 3])
def test_exec_out_of_frames_fails_with_enomem_and_the_caller_goes_on(
        machine, userland, kernel, frames_for_exec):
    """First a measuring run: how many frames execer takes from its spawn to
    its exec.  Then the same again with the PMM emptied but for those and
    `frames_for_exec` more (too few for hello's image): exec returns -ENOMEM,
    execer goes on (status 3), its process-table entry as it was, no EXEC
    record, and every frame the attempt took is back."""
    before = free_frames(machine, kernel)
    pid = userland.spawn("execer", "hello 7")
    spawned = kernel.pmm_stats()["free_frames"]
    machine.break_at("proc_exec")
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    needed = spawned - kernel.pmm_stats()["free_frames"]
    machine.delete_breakpoints()
    machine.cont()
    assert userland.history()[pid].status == 7
    assert free_frames(machine, kernel) == before

    pid = userland.spawn("execer", "hello 7")
    assert machine.call("agent_pmm_exhaust") > 0
    give_back(machine, needed + frames_for_exec)
    machine.break_at("proc_exec")
    with pytest.raises(CallStopped):
        machine.call("sched_run")
    entry = {k: v for k, v in kernel.process_table()[0].items()
             if k in ("pid", "cr3", "heap_base", "brk", "stack_top", "pages", "reserved_pages")}
    free_at_exec = kernel.pmm_stats()["free_frames"]
    assert free_at_exec == frames_for_exec, "the measuring run took as many as this one"
    machine.delete_breakpoints()
    machine.break_at("syscall_dispatch")  # the next system call: execer's printf
    mark = machine.mark()
    machine.cont()
    after = {k: v for k, v in kernel.process_table()[0].items() if k in entry}
    assert after == entry, "the caller is untouched"
    assert kernel.pmm_stats()["free_frames"] == free_at_exec, "every frame came back"
    assert machine.records("EXEC", since=mark) == []
    machine.delete_breakpoints()
    machine.cont()
    machine.call("agent_pmm_release")
    result = userland.history()[pid]
    assert (result.name, result.status) == ("execer", 3)
    [claim] = [c for c in userland.claims("USER") if c["prog"] == "execer"]
    assert claim.int("rc") == ENOMEM
    assert free_frames(machine, kernel) == before
