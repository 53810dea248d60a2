"""The serial debug shell (kernel command line ``shell``), driven the way a
person would drive it: type a command at ``mm> `` and read the answer.  The
answers are held against the kernel's own structs read through GDB, against
the harness's page-table walker and against QEMU's own ``info mem``.

The machine runs while the shell talks; a test stops it (``interrupt``) to
read the truth, and may let it go on (``cont(wait=False)``) to keep talking.
"""

from __future__ import annotations

import re
import time

import pytest

from harness.decode.qemuview import parse_info_mem
from harness.decode.records import Record
from harness.targets.mmverify.processes import elf_symbols

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="shell aslr=off")

PROMPT = "mm> "
CTRL_C = "\x03"
BANNER = "mmverify debug shell"
COMMANDS = {"help", "meminfo", "map", "heap", "leaks", "mark", "faults", "ps", "run"}
# "c0100000-c010d000 0000d000 -r-" (9 digits for an end at 4 GiB), as QEMU's info mem
REGION = re.compile(r"^([0-9a-f]{8,9})-([0-9a-f]{8,9}) ([0-9a-f]{8,9}) ([-u])r([-w])([-x])$",
                    re.M)
USER_TEXT = 0x1000


class Reply(str):
    """A command's output on the console, and in ``records`` the records the
    kernel wrote on its record channel meanwhile (the ones a test believes)."""

    records: list[Record]


class Shell:
    """The shell on one machine's console."""

    def __init__(self, machine) -> None:
        self.m = machine
        self.console = machine.console

    def start(self) -> None:
        self.console.discard()  # a restored machine: nothing said before counts
        self.m.cont(wait=False)
        self.m.expect(BANNER)
        self.m.expect(PROMPT)

    def resume(self) -> None:
        """Continue after an interrupt; the shell is still waiting for a line."""
        self.m.cont(wait=False)

    def run(self, command: str, timeout: float | None = None) -> Reply:
        """Type ``command``; its output (the echo and the prompt stripped)."""
        mark = self.m.mark()
        self.console.sendline(command)
        self.m.expect(re.escape(command) + "\r\n")
        early = self.console.before
        assert early == "", f"output before the echo of {command!r}: {early!r}"
        self.m.expect(PROMPT, timeout)
        reply = Reply(self.console.before.replace("\r\n", "\n"))
        reply.records = self.m.records(since=mark)  # written before the prompt was
        return reply

    def stop(self) -> None:
        self.m.interrupt()


def record(reply: Reply, tag: str) -> Record:
    [rec] = [r for r in reply.records if r.tag == tag]
    return rec


def regions(text: str) -> list[tuple[int, int, bool, bool, bool]]:
    """(start, end, user, write, execute) of each region line."""
    out = []
    for start, end, size, user, write, execute in REGION.findall(text):
        assert int(end, 16) - int(start, 16) == int(size, 16)
        out.append((int(start, 16), int(end, 16), user == "u", write == "w", execute == "x"))
    return out


def without_execute(runs: list[tuple[int, int, bool, bool, bool]]
                    ) -> list[tuple[int, int, bool, bool]]:
    """The regions merged whatever their execute right, as QEMU's info mem
    (no execute column) shows them."""
    out: list[tuple[int, int, bool, bool]] = []
    for start, end, user, write, _ in runs:
        if out and out[-1][1] == start and out[-1][2:] == (user, write):
            out[-1] = (out[-1][0], end, user, write)
        else:
            out.append((start, end, user, write))
    return out


@pytest.fixture
def shell(machine):
    """A factory: ``shell()`` lets the machine run into the shell and returns
    it.  Whatever the test did, the machine is stopped again afterwards."""

    def start() -> Shell:
        sh = Shell(machine)
        sh.start()
        return sh

    yield start
    machine.interrupt()


def test_help_lists_every_command(shell):
    sh = shell()
    out = sh.run("help")
    listed = {m.group(1) for m in re.finditer(r"^  (\w+)(?: \S+)*\s{2,}\S", out, re.M)}
    assert listed == COMMANDS, out
    assert sh.run("help map").splitlines() == [
        "usage: map [pid]", "  regions of the kernel's (or process pid's) address space"]


def test_meminfo_equals_the_kernels_counters(machine, kernel, shell):
    kept = [machine.call("kmalloc", n) for n in (64, 3000, 20000)]  # a heap worth summing
    sh = shell()
    out = sh.run("meminfo")
    sh.stop()
    pmm = kernel.pmm_stats()
    rec = record(out, "MEMINFO")
    assert rec.int("frames") == pmm["usable_frames"]
    assert rec.int("free_frames") == pmm["free_frames"]
    assert rec.int("reserved_frames") == pmm["reserved_frames"]
    assert rec.int("total_kib") == pmm["usable_frames"] * 4
    assert rec.int("free_kib") == pmm["free_frames"] * 4
    assert rec.int("reserved_kib") == pmm["reserved_frames"] * 4
    kib = int(re.search(r"^  total\s+(\d+) KiB\s+(\d+)\.\d MiB", out, re.M).group(1))
    assert kib == pmm["usable_frames"] * 4
    heap = kernel.heap_stats()
    assert heap["live_blocks"] == len(kept)
    for label, key in (("requested", "bytes_requested"), ("in use", "bytes_in_use"),
                       ("mapped", "bytes_mapped"), ("largest free", "largest_free"),
                       ("live blocks", "live_blocks"), ("quarantined", "quarantined")):
        shown = re.search(rf"^  {label}\s+(\d+)", out, re.M)
        assert shown and int(shown.group(1)) == heap[key], (label, out)


def test_kernel_map_equals_qemus_info_mem(machine, shell):
    # Heap pages in both heap regions, so the map is more than the image.
    for n in (100, 2000, 50000):
        machine.call("kmalloc", n)
    sh = shell()
    out = sh.run("map")
    sh.stop()
    ours = regions(out)
    qemu = [(r.start, r.end, r.user, r.write) for r in parse_info_mem(machine.monitor("info mem"))]
    assert without_execute(ours) == qemu
    walker = [(r.start, r.end, r.user, r.write, r.execute)
              for r in machine.address_space().regions()]
    assert ours == walker, "the execute right splits regions as the walker's"
    assert any(start >= 0xF0000000 and write for start, _, _, write, _ in ours), "heap shown"
    rec = record(out, "MAP")
    assert rec.int("pid") == 0 and rec.int("regions") == len(ours)
    assert rec.int("cr3") == machine.registers("cr3")["cr3"]
    assert rec.int("mapped_kib") == sum(end - start for start, end, *_ in ours) // 1024


def test_map_and_ps_of_a_live_process(userland, shell):
    pid = userland.spawn("hello", "7")  # ready, never run: the shell only looks at it
    info = userland.process(pid)
    sh = shell()
    table = sh.run("ps")
    row = re.search(rf"^\s+{pid}\s+ready\s+hello\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\.\.(0x[0-9a-f]+)"
                    rf"\s+(0x[0-9a-f]+)\s+(\d+)\s+(\d+)$", table, re.M)
    assert row, table
    assert [int(v, 0) for v in row.groups()] == [info.cr3, info.heap_base, info.brk,
                                                 info.stack_top, info.pages, info.demand_faults]
    assert record(table, "PS").int("processes") == 1
    out = sh.run(f"map {pid}")
    sh.stop()
    ours = regions(out)
    walker = [(r.start, r.end, r.user, r.write, r.execute)
              for r in userland.address_space(pid).regions()]
    assert ours == walker
    text = next(r for r in ours if r[0] <= USER_TEXT < r[1])
    assert text[0] == USER_TEXT and text[2:] == (True, False, True), "user text at 0x1000 is ur-x"
    assert any(r[2] and r[3] and r[1] == 0xC0000000 for r in ours), "the stack is urw"
    assert any(r[0] >= 0xC0000000 and not r[2] for r in ours), "the kernel half is there"
    rec = record(out, "MAP")
    assert rec.int("pid") == pid and rec.int("cr3") == info.cr3


def test_run_hello_then_ps_is_empty(machine, userland, shell):
    sh = shell()
    mark = machine.mark()
    out = sh.run("run hello 3")
    exit_rec = record(out, "EXIT")
    pid = exit_rec.int("pid")
    assert exit_rec["name"] == "hello" and exit_rec.int("status") == 3
    assert exit_rec["killed"] == "0"
    assert f"run: pid {pid} (hello) exited with status 3" in out
    table = sh.run("ps")
    assert record(table, "PS").int("processes") == 0
    assert not re.search(r"^\s+\d+\s+\w+\s+hello", table, re.M)
    sh.stop()
    assert userland.finished_since(mark)[pid].status == 3  # the log and the kernel agree
    assert userland.processes() == []


def run_lines(text: str) -> list[str]:
    """The shell's own lines about a run (its programs' output and the
    records left out)."""
    return [line for line in text.splitlines() if line.startswith("run: ")]


def test_ctrl_c_stops_a_run_whose_process_never_yields(machine, userland, shell):
    main = userland.symbol("forever", "main")
    machine.break_at(main)
    sh = shell()
    machine.console.sendline("run forever")
    assert machine.wait_stopped().addr == main
    [proc] = userland.processes()
    machine.delete_breakpoints()
    spins = userland.symbol("forever", "spins")
    sh.resume()
    time.sleep(0.2)
    sh.stop()
    assert userland.process(proc.pid).state == "running"
    assert int.from_bytes(userland.read(proc.pid, spins, 4), "little") > 0, "it spins"
    sh.resume()
    machine.console.send(CTRL_C)
    machine.expect(PROMPT)
    out = machine.console.before.replace("\r\n", "\n")
    sh.stop()
    result = userland.history()[proc.pid]
    assert (result.name, result.killed, result.reason) == ("forever", True, "interrupted")
    assert (result.addr, result.err) == (0, 0), "no fault: no address, no error code"
    after_main = min(a for a in elf_symbols(userland.user_dir / "forever.elf").values()
                     if a > main)
    assert main <= result.eip < after_main, "stopped in its loop"
    assert run_lines(out) == [
        f"run: pid {proc.pid} (forever) was stopped by Ctrl-C at eip {result.eip:#010x}",
        "run: interrupted (Ctrl-C)",
        "run: 1 process finished"]
    assert userland.processes() == []
    sh.resume()
    assert sh.run("help ps").splitlines()[0] == "usage: ps"  # the shell goes on


def test_ctrl_c_stops_a_run_inside_a_long_write(machine, userland, shell):
    """Ctrl-C reaches a process that is inside one long system call: the
    write's preemption points let the tick (and its look at COM1) in, and
    the process ends there, not after its 4 MiB."""
    sh = shell()
    machine.console.sendline("run bigwrite")
    deadline = time.monotonic() + 30
    while not userland.writes() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the write is under way
    [(pid, _)] = userland.writes()[:1]
    machine.console.send(CTRL_C)
    machine.expect(PROMPT)
    out = machine.console.before.replace("\r\n", "\n")
    sh.stop()
    result = userland.history()[pid]
    assert (result.name, result.killed, result.reason) == ("bigwrite", True, "interrupted")
    assert 0 < len(userland.output(pid)) < 4 << 20, "stopped in the middle of its write"
    assert run_lines(out)[-2:] == ["run: interrupted (Ctrl-C)", "run: 1 process finished"]
    assert userland.processes() == []


def test_typing_during_a_run_is_kept_and_ctrl_c_drops_what_came_before_it(
        machine, userland, shell):
    main = userland.symbol("forever", "main")
    machine.break_at(main)
    sh = shell()
    machine.console.sendline("run forever")
    assert machine.wait_stopped().addr == main
    machine.delete_breakpoints()
    sh.resume()
    machine.console.send("ps" + CTRL_C + "help ma")  # read by the timer, in one go
    machine.expect(re.escape("run: 1 process finished\r\n" + PROMPT + "help ma"))
    assert sh.run("p").splitlines() == [  # the rest of the line, typed now
        "usage: map [pid]", "  regions of the kernel's (or process pid's) address space"]
    sh.stop()
    assert userland.processes() == []


def test_run_reports_every_process_that_ended_however_many(machine, kernel, userland, shell):
    """`chain 40` ends first and 40 processes end after it: more than the
    kernel's history of finished processes (PROC_HISTORY) remembers."""
    finished_before = kernel.u32("proc_finished")
    sh = shell()
    out = sh.run("run chain 40")
    sh.stop()
    lines = run_lines(out)
    first = int(re.match(r"run: pid (\d+) ", lines[0]).group(1))
    assert lines == [f"run: pid {first + k} (chain) exited with status {40 - k}"
                     for k in range(41)] + ["run: 41 processes finished"]
    assert kernel.u32("proc_finished") - finished_before == 41
    remembered = userland.history()
    assert len(remembered) < 41
    assert {pid: (r.name, r.status) for pid, r in remembered.items()} == {
        first + k: ("chain", 40 - k) for k in range(41 - len(remembered), 41)}
    assert userland.processes() == []


def test_run_nullread_is_killed_and_faults_shows_it(machine, kernel, shell):
    sh = shell()
    out = sh.run("run nullread")
    exit_rec = record(out, "EXIT")
    pid = exit_rec.int("pid")
    assert exit_rec["killed"] == "1" and exit_rec["reason"] == "null-pointer"
    assert re.search(rf"run: pid {pid} \(nullread\) was killed: null-pointer at 0x00000000", out)
    assert record(sh.run("ps"), "PS").int("processes") == 0  # the shell goes on
    faults = sh.run("faults")
    sh.stop()
    rows = re.findall(r"^\s+(\d+)\s+(0x[0-9a-f]{8})\s+(0x[0-9a-f]+)\s+(\S+)\s+(0x[0-9a-f]{8})"
                      r"\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)$", faults, re.M)
    _, addr, _, bits, _, fpid, kind, action, reason = rows[-1]
    assert (int(addr, 16), bits, int(fpid), kind, action, reason) == (
        0, "U", pid, "not-present", "kill", "null-pointer")
    truth = kernel.fault_log()
    assert [(int(s), int(a, 16), int(e, 16), int(i, 16), int(p), k, act, r)
            for s, a, e, _, i, p, k, act, r in rows] == [
        (f.seq, f.fault.addr, f.fault.err, f.fault.eip, f.pid, f.kind, f.action, f.reason)
        for f in truth]
    summary = record(faults, "FAULTS")
    stats = kernel.fault_stats()
    assert summary.int("total") == stats["total"] and summary.int("shown") == len(truth)
    assert summary.int("kill") == stats["by_action"][2] >= 1


def test_heap_and_leaks_after_mark(machine, kernel, shell):
    sh = shell()
    mark = record(sh.run("mark"), "MARK").int("mark")
    sh.stop()
    sizes = (100, 5000)  # one slab block, one large block
    kept = [machine.call("agent_kmalloc", n) for n in sizes]
    sh.resume()
    out = sh.run(f"leaks {mark}")
    leaks = {r.int("addr"): r for r in (r for r in out.records if r.tag == "LEAK")}
    assert set(leaks) == set(kept)
    agent = machine.symbol("agent_kmalloc")
    for p, size in zip(kept, sizes, strict=True):
        assert leaks[p].int("size") == size and leaks[p].int("epoch") == mark
        assert agent <= leaks[p].int("caller") < agent + 32
    summary = record(out, "LEAKS")
    assert (summary.int("count"), summary.int("bytes")) == (2, sum(sizes))
    assert record(sh.run(f"leaks {mark + 1}"), "LEAKS").int("count") == 0
    assert record(sh.run("leaks"), "LEAKS").int("count") >= 2
    heap = sh.run("heap")
    sh.stop()
    truth = kernel.heap_stats()
    stat = record(heap, "HEAPSTAT")
    for key, field in (("requested", "bytes_requested"), ("in_use", "bytes_in_use"),
                       ("mapped", "bytes_mapped"), ("peak", "peak_mapped"),
                       ("largest_free", "largest_free"), ("live", "live_blocks"),
                       ("quarantined", "quarantined"), ("failed", "failed_allocations")):
        assert stat.int(key) == truth[field], key
    assert stat.int("live") == 2 and stat.int("requested") == sum(sizes)
    classes = [tuple(map(int, row)) for row in
               re.findall(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", heap, re.M)]
    assert classes == [(i, truth["class_size"][i], truth["class_live"][i],
                        truth["class_slabs"][i]) for i in range(len(truth["class_size"]))]
    assert sum(live for _, _, live, _ in classes) == 1, "the 100-byte block is in a slab"
    errors = dict(re.findall(r"^  ([a-z-]+)\s+(\d+)$", heap.partition("\nerrors\n")[2], re.M))
    assert {k: int(v) for k, v in errors.items()} == kernel.heap_error_counts()


@pytest.mark.parametrize(("command", "answer"), [
    ("foo", "unknown command 'foo' (try help)"),
    ("map abc", "usage: map [pid]"),
    ("map 1 2", "usage: map [pid]"),
    ("map 999", "map: no process 999 (ps lists them)"),
    ("run", "usage: run module [args]"),
    ("run nosuchprog", "run: cannot start 'nosuchprog': no such module (-ENOENT)"),
    ("leaks x", "usage: leaks [mark]"),
    ("meminfo now", "usage: meminfo"),
    ("help nothing", "help: no command 'nothing'"),
])
def test_bad_input_gets_one_answer_and_the_prompt_back(shell, command, answer):
    sh = shell()
    out = sh.run(command)
    assert answer in out.splitlines(), out
    assert "mmverify" not in out and "PANIC" not in out
    if command == "run nosuchprog":
        assert record(out, "RUN").int("error") == -2
    assert record(sh.run("ps"), "PS").int("processes") == 0  # and the shell still answers


def test_line_editing(machine, shell):
    sh = shell()
    console = machine.console
    console.send("heapx\x7f\r")  # DEL erases the x: the command is "heap"
    machine.expect(r"heapx\x08 \x08\r\n")
    machine.expect(PROMPT)
    assert "HEAPSTAT" in console.before
    console.send("mapp\x08\x08\x08ark\n")  # backspace, and '\n' ends a line too
    machine.expect(PROMPT)
    assert "MARK mark=" in console.before
    console.send("nonsense\x03")  # Ctrl-C drops the line
    machine.expect(r"\^C\r\n" + PROMPT)
    assert "unknown command" not in console.before
    console.send("\r")  # an empty line: only a new prompt
    machine.expect(PROMPT)
    assert console.before == "\r\n"
    console.send("ps\r\n")  # CR LF is one end of line, not a command and an empty line
    machine.expect(PROMPT)
    assert "PS processes=0" in console.before
    assert sh.run("help zz").strip() == "help: no command 'zz'"  # no extra prompt came first
