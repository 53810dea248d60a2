"""The harness sees every vCPU on its own (machine.cpus(), machine.on_cpu(n)),
judged against QEMU's own view of each vCPU (the monitor's info registers
on that cpu-index).

Every machine here keeps its APs where reset (or an INIT) leaves them,
waiting for a SIPI (QEMU calls them halted): EIP 0xfff0, CS 0xf000, CR0
0x60000010, paging off, while CPU 0 runs the kernel.  Those known states are
what tells a register or memory read done on the wrong vCPU from a right
one.  A firmware that starts the APs is told not to with `smp_start=off`
(INIT, no SIPI); one that starts none ignores the word.
"""

import os
import re
import subprocess
import sys
import time

import pytest

from harness import CallStopped, GdbError, timeouts
from harness.decode.vcpus import parse_info_registers
from harness.errors import HungGuest
from harness.machine.oracle import walker_disagreements
from harness.machine.progress import ProgressWatch
from harness.targets.mmverify.build import REPO
from tests.expected import KERNEL_BASE
from tests.smp.idle import idle_resume_address

CR0_PG = 0x80000000
APS_IN_RESET = "smp_start=off"  # the kernel's test switch: INIT each AP, no SIPI
TWO_AND_FOUR = [pytest.param(n, marks=pytest.mark.machine(smp=n, cmdline=APS_IN_RESET))
                for n in (2, 4)]
AP_AT_RESET = {"eip": 0xFFF0, "cs": 0xF000, "cr0": 0x60000010, "cr3": 0, "cr4": 0, "efer": 0}
# The registers GDB and QEMU's info registers both show for a 32-bit vCPU.
SHARED = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags", "cs", "ss",
          "ds", "es", "fs", "gs", "fs_base", "gs_base", "cr0", "cr2", "cr3", "cr4", "efer")


def kernel_cr3(machine):
    return machine.symbol("kernel_page_directory") - KERNEL_BASE


@pytest.mark.parametrize("count", TWO_AND_FOUR)
def test_cpu0_runs_the_kernel_and_every_ap_waits_at_reset(machine, count):
    cpus = machine.cpus()
    assert [(c.index, c.gdb_id) for c in cpus] == [(i, i + 1) for i in range(count)]
    assert [c.halted for c in cpus] == [False] + [True] * (count - 1)
    bsp = cpus[0].registers()
    assert bsp["eip"] == machine.symbol("kernel_ready") == cpus[0].addr
    assert bsp["cr0"] & CR0_PG and bsp["cr3"] == kernel_cr3(machine)
    assert cpus[0].paging_mode() is not None
    for ap in cpus[1:]:
        regs = ap.registers(*AP_AT_RESET)
        assert regs == AP_AT_RESET, f"CPU {ap.index}"
        assert ap.addr == 0xFFF0 and ap.paging_mode() is None


@pytest.mark.parametrize("count", TWO_AND_FOUR)
def test_each_cpus_registers_are_the_ones_qemu_has_for_it(machine, count):
    for cpu in machine.cpus():
        qemu = parse_info_registers(cpu.monitor("info registers"))
        assert (qemu["cpu"], qemu["halted"]) == (cpu.index, int(cpu.halted))
        gdb = cpu.registers(*SHARED)
        assert gdb == {name: qemu[name] for name in SHARED}, f"CPU {cpu.index}"
    assert len(machine.cpus()) == count


@pytest.mark.machine(smp=2, cmdline=APS_IN_RESET)
def test_reads_go_through_the_page_tables_of_the_cpu_asked(machine):
    va = machine.symbol("kernel_ready")
    pa = machine.translate(va).pa
    assert pa == va - KERNEL_BASE
    ram = machine.read_phys(pa, 64)
    assert machine.on_cpu(0).read(va, 64) == ram == machine.read(va, 64)
    ap = machine.on_cpu(1)
    # paging off on CPU 1: its virtual addresses are physical ones
    assert ap.read(pa, 64) == ram
    with pytest.raises(GdbError, match="not mapped"):
        ap.read(va, 4)  # no RAM at 0xc01...: only CPU 0's tables map the kernel there


@pytest.mark.machine(smp=2, cmdline=APS_IN_RESET)
def test_the_walker_agrees_with_qemu_on_each_cpus_view(machine):
    assert walker_disagreements(machine, cpu=0) == [] == walker_disagreements(machine)
    # CPU 1's paging is off, and QEMU's monitor on CPU 1 says so (on CPU 0 it
    # would list the kernel's map)
    assert walker_disagreements(machine, cpu=1) == []
    assert machine.monitor("info mem", cpu=1).strip() == "PG disabled"
    assert machine.monitor("info mem", cpu=0).strip() != "PG disabled"


@pytest.mark.machine(smp=2, cmdline=APS_IN_RESET)
def test_an_ap_selected_in_gdb_does_not_move_cpu0s_registers_reads_or_calls(machine):
    va = machine.symbol("kernel_ready")
    before = machine.registers("eip", "esp", "cr0", "cr3")
    machine.gdb.command("-thread-select 2")  # as a stop on CPU 1 would leave GDB
    assert machine.gdb.command("-thread-info").payload["current-thread-id"] == "2"
    assert machine.registers("eip", "esp", "cr0", "cr3") == before
    assert before["cr3"] == kernel_cr3(machine)
    assert machine.read(va, 16) == machine.read_phys(va - KERNEL_BASE, 16)
    word = int.from_bytes(machine.read_phys(va - KERNEL_BASE, 4), "little")
    assert int(machine.evaluate(f"*(unsigned int *){va:#x}")) == word
    assert machine.call("agent_nop", 7) == 7
    assert machine.registers("eip", "esp", "cr3") == {k: before[k] for k in ("eip", "esp", "cr3")}
    assert machine.on_cpu(1).registers(*AP_AT_RESET) == AP_AT_RESET, "CPU 1 untouched"
    assert [f.get("func") for f in machine.on_cpu(0).backtrace()][:2] == ["kernel_ready", "kmain"]
    assert [int(f["addr"], 16) for f in machine.on_cpu(1).backtrace()] == [0xFFF0]


@pytest.mark.machine(smp=2, cmdline=APS_IN_RESET)
def test_a_breakpoint_for_one_cpu_stops_that_cpu_only(machine):
    other = machine.break_at("agent_nop", cpu=1)
    for i in range(5):  # CPU 0 passes CPU 1's breakpoint: GDB resumes it each time
        assert machine.call("agent_nop", i) == i
    machine.delete_breakpoint(other)
    machine.break_at("agent_nop", cpu=0)
    with pytest.raises(CallStopped) as stopped:
        machine.call("agent_nop", 9)
    stop = stopped.value.stop
    assert (stop.addr, stop.thread, stop.cpu) == (machine.symbol("agent_nop"), 1, 0)
    machine.delete_breakpoints()
    machine.cont()  # the call returns
    with pytest.raises(IndexError, match=r"no vCPU 2: this machine has vCPUs \[0, 1\]"):
        machine.break_at("agent_nop", cpu=2)


def test_one_cpu_machine_has_one_view(machine):
    (cpu,) = machine.cpus()
    assert (cpu.index, cpu.gdb_id, cpu.halted) == (0, 1, False)
    assert cpu.registers("cr3", "eip") == machine.registers("cr3", "eip")
    with pytest.raises(IndexError, match=r"no vCPU 1"):
        machine.on_cpu(1)
    machine.break_at("agent_nop")
    with pytest.raises(CallStopped) as stopped:
        machine.call("agent_nop", 1)
    assert stopped.value.stop.cpu == 0


FAILING_SMP_TEST = '''
import pytest
from harness import CallStopped

@pytest.mark.machine(smp=2, cmdline="smp_start=off")
def test_fails_inside_a_call_on_two_cpus(machine):
    machine.break_at("agent_nop", cpu=0)
    with pytest.raises(CallStopped):
        machine.call("agent_nop", 3)
    assert False, "deliberate failure"
'''


def test_a_failure_on_two_cpus_leaves_every_cpus_registers_and_backtrace(tmp_path, firmware):
    report, folder = run_failing_test(tmp_path, firmware, FAILING_SMP_TEST)
    cpus = (folder / "cpus.txt").read_text().split("\n\n")
    assert len(cpus) == 2
    bsp, ap = (dict(line.split(None, 1) for line in block.splitlines()[1:]
                    if not line.startswith((" ", "backtrace"))) for block in cpus)
    assert cpus[0].startswith("CPU 0 (gdb thread 1, running)\n")
    assert "\nbacktrace:\n  #0 agent_nop " in cpus[0]
    assert int(bsp["cr0"], 16) & CR0_PG
    assert cpus[1].startswith("CPU 1 (gdb thread 2, halted)\n")
    assert {k: int(ap[k], 16) for k in ("eip", "cs", "cr0", "cr3", "efer")} == {
        k: AP_AT_RESET[k] for k in ("eip", "cs", "cr0", "cr3", "efer")}
    assert "\nbacktrace:\n  #0 ?? 0x0000fff0\n" in cpus[1]
    qemu = (folder / "cpus-qemu.txt").read_text()
    assert "=== CPU 1: info registers ===\nCPU#1\n" in qemu and "HLT=1" in qemu
    assert "=== CPU 0: info lapic ===" in qemu
    summary = report[report.index("--- cpus ---"):].splitlines()
    assert summary[1].startswith("CPU 0 running eip=") and "#0 agent_nop" in summary[1]
    assert summary[2].startswith("CPU 1 halted  eip=0x0000fff0 cr3=0x00000000 #0 ??")


USE_EXISTING_BUILD = '''
import os
import re
from pathlib import Path
import pytest
from harness.targets.mmverify.build import Artifacts

@pytest.fixture(scope="session")
def firmware():
    return Artifacts(Path(os.environ["MMV_TEST_BUILD_DIR"]))
'''


def run_failing_test(tmp_path, firmware, source):
    """Run ``source`` (one failing test) in its own pytest; its report and
    its artifacts folder."""
    (tmp_path / "test_failing.py").write_text(source)
    (tmp_path / "conftest.py").write_text(USE_EXISTING_BUILD)
    artifacts = tmp_path / "artifacts"
    # Not the outer run's PYTEST_ADDOPTS: CI's --junitxml would put a junit
    # file in the child's artifacts folder.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env.update(MMV_TEST_BUILD_DIR=str(firmware.build_dir), PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         f"--artifacts={artifacts}", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout
    assert "deliberate failure" in result.stdout
    (folder,) = artifacts.iterdir()
    return result.stdout, folder


MM_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(halted|running)\s+(0x[0-9a-f]{8})\s+(0x[0-9a-f]{8})"
                    r"\s+(off|legacy pse|legacy|pae nx|pae)\s+(.*)$", re.MULTILINE)


@pytest.mark.machine(smp=4, cmdline=APS_IN_RESET)
def test_mm_cpus_shows_every_cpu_as_the_harness_sees_it(machine):
    gdb = machine.gdb
    gdb.console(f"source {REPO / 'harness' / 'gdbcmds' / 'mm.py'}")
    gdb.command("-thread-select 3")
    text = gdb.console("mm cpus")
    assert text.startswith("4 vCPUs\n")
    rows = [m.groups() for m in MM_ROW.finditer(text)]
    expected = []
    for cpu in machine.cpus():
        regs = cpu.registers("eip", "cr3")
        mode = cpu.paging_mode()
        paging = "off" if mode is None else ("pae" if mode.pae else "legacy")
        paging += (" nx" if mode.nxe else "") if mode and mode.pae else (
            " pse" if mode and mode.pse else "")
        expected.append((str(cpu.index), str(cpu.gdb_id), "halted" if cpu.halted else "running",
                         f"{regs['eip']:#010x}", f"{regs['cr3']:#010x}", paging))
    assert [r[:6] for r in rows] == expected
    assert rows[0][6].startswith("kernel_ready") and rows[1][6] == "?"
    # GDB's selection is put back: the command switched threads to read them
    assert gdb.command("-thread-info").payload["current-thread-id"] == "3"


KERNEL_ROW = re.compile(r"^ *(\d+) +(yes|no) +(kernel|pid \d+|-) +(\d+) +(0x[0-9a-f]+) +(\d+)$",
                        re.MULTILINE)
DRAIN_ASKED = 0x80000000  # TLB_PENDING_PCP_DRAIN (kernel/tlb.h)


@pytest.mark.machine(smp=2)
def test_mm_cpus_shows_each_cpus_kernel_state(machine):
    """With the firmware's symbols, mm cpus has a second table from each
    struct cpu: online, the process it runs (CPU 0's current: none at
    kernel_ready; the APs run none), the frames its cache holds (CPU 0's
    after one allocation through it: a batch less one), the requests left
    for it (one written here as another CPU's drain request would set it,
    taken back before the guest runs) and the IPIs it took (CPU 1: one
    ping's)."""
    assert machine.call_value("ipi_ping", 1) == 1
    machine.call("pcp_alloc")
    pending = int(machine.evaluate("(unsigned)&cpus[1].tlb_pending"), 0)
    gdb = machine.gdb
    gdb.console(f"source {REPO / 'harness' / 'gdbcmds' / 'mm.py'}")
    machine.write_u32(pending, DRAIN_ASKED)
    try:
        text = gdb.console("mm cpus")
    finally:
        machine.write_u32(pending, 0)
    assert re.search(r"^ *cpu +online +process +cached +requests +ipis$", text, re.MULTILINE), text
    ipis = [int(machine.evaluate(f"cpus[{i}].ipis"), 0) for i in (0, 1)]
    assert ipis[1] >= 1
    assert [m.groups() for m in KERNEL_ROW.finditer(text)] == [
        ("0", "yes", "kernel", "15", "0x0", str(ipis[0])),
        ("1", "yes", "-", "0", f"{DRAIN_ASKED:#x}", str(ipis[1]))], text


INC_EAX_LOOP = bytes([0x40, 0xEB, 0xFD])  # 1: inc %eax; jmp 1b: registers change, nothing else


@pytest.mark.machine(smp=2, cmdline=APS_IN_RESET)
def test_a_hang_on_two_cpus_names_where_the_other_cpu_is(machine):
    nop = machine.symbol("agent_nop")
    machine.write(nop, INC_EAX_LOOP)  # the restored snapshot puts the text back for the next test
    # Half the default stall, looks twice as often: the test is what is seen, not how long.
    watch = ProgressWatch(machine, period=0.5, stall=1.5)
    with machine.watching(watch), pytest.raises(HungGuest) as caught:
        machine.call("agent_nop", 1)
    hung = caught.value
    assert hung.eip in (nop, nop + 1) and hung.where.startswith("agent_nop"), hung.where
    assert "; the other CPUs: CPU 1 halted at 0x0000fff0 in no symbol" in hung.reason
    assert machine.broken is None


@pytest.mark.machine(smp=2, cmdline=APS_IN_RESET)
def test_mm_page_table_commands_take_a_cpu(machine):
    gdb = machine.gdb
    gdb.console(f"source {REPO / 'harness' / 'gdbcmds' / 'mm.py'}")
    va = machine.symbol("kernel_ready")
    on_cpu0 = gdb.console(f"mm vtop {va:#x}")  # CPU 0 selected: the kernel's tables
    assert f"{va - KERNEL_BASE:#x}" in on_cpu0 or f"{va - KERNEL_BASE:#010x}" in on_cpu0
    kernel_map = gdb.console("mm map")
    entries = gdb.console(f"mm pt $cr3 {va:#x}")
    gdb.command("-thread-select 2")  # CPU 1: paging off, CR4 0: $cr3 and the mode are its own
    assert gdb.console(f"mm vtop --cpu 0 {va:#x}") == on_cpu0
    assert gdb.console("mm map --cpu 0") == kernel_map
    assert gdb.console(f"mm pt --cpu 0 $cr3 {va:#x}") == entries
    with pytest.raises(GdbError, match="vCPU 1 has paging off"):
        gdb.console("mm map --cpu 1")
    with pytest.raises(GdbError, match=r"no vCPU 5: this machine has vCPUs \[0, 1\]"):
        gdb.console("mm map --cpu 5")
    assert gdb.command("-thread-info").payload["current-thread-id"] == "2"


def test_a_stop_on_an_ap_leaves_the_machines_registers_and_calls_on_cpu0(boot):
    """An AP that stops at a breakpoint becomes GDB's selected thread; the
    machine's registers and calls stay CPU 0's.  Needs a firmware that
    starts APs (issue 20's bring-up: an online AP idles in ap_idle)."""
    m = boot(smp=2)
    try:  # hardware: the loader writes the kernel's text after reset
        m.break_at("ap_idle", cpu=1, hardware=True)
    except GdbError:
        pytest.skip("this firmware starts no AP (no ap_idle): issue 20's bring-up")
    ap_idle = m.symbol("ap_idle")
    stop = m.cont()
    assert (stop.addr, stop.thread, stop.cpu) == (ap_idle, 2, 1)
    assert m.gdb.command("-thread-info").payload["current-thread-id"] == "2"
    ap = m.on_cpu(1)
    assert ap.reg("eip") == ap_idle and ap.reg("cr3") == kernel_cr3(m)
    bsp = m.registers("eip", "esp", "cs")
    assert bsp == m.on_cpu(0).registers("eip", "esp", "cs") and bsp["eip"] != ap_idle
    m.delete_breakpoints()
    assert m.call("agent_nop", 5) == 5  # on CPU 0: its EIP and ESP come back
    assert m.on_cpu(0).registers("eip", "esp", "cs") == bsp
    # CPU 1 runs on into its hlt while CPU 0 runs: a call that short may end
    # before CPU 1's host thread has had a turn (MTTCG), so give it a few.
    deadline = time.monotonic() + timeouts.scaled(timeouts.RUN)
    while not m.on_cpu(1).halted and time.monotonic() < deadline:
        m.call("agent_nop", 0)
    cpu1 = m.on_cpu(1)
    assert cpu1.halted and cpu1.reg("eip") == idle_resume_address(m)
