"""GDB's and QEMU's views of the vCPUs, decoded from output recorded from
QEMU 7.2 and GDB 13.1 with -smp 4 (this firmware at kernel_ready; the APs
never started, so they sit at the reset vector, halted)."""

import pytest

from harness.decode.vcpus import (
    VcpuThread,
    cpu_of_thread,
    parse_info_registers,
    parse_info_registers_all,
    parse_thread_info,
    thread_of_cpu,
)
from harness.transport.gdbmi import StopEvent

# -thread-info at kernel_ready, -smp 4 (pygdbmi's parse of GDB's record)
AT_READY = {"threads": [
    {"id": "1", "target-id": "Thread 1.1", "details": "CPU#0 [running]",
     "frame": {"level": "0", "addr": "0xc0100c40", "func": "kernel_ready", "args": [],
               "file": "/work/wt-h1/firmware/kernel/main.c", "line": "33", "arch": "i386"},
     "state": "stopped"},
    {"id": "2", "target-id": "Thread 1.2", "details": "CPU#1 [halted ]",
     "frame": {"level": "0", "addr": "0x0000fff0", "func": "??", "args": [], "arch": "i386"},
     "state": "stopped"},
    {"id": "3", "target-id": "Thread 1.3", "details": "CPU#2 [halted ]",
     "frame": {"level": "0", "addr": "0x0000fff0", "func": "??", "args": [], "arch": "i386"},
     "state": "stopped"},
    {"id": "4", "target-id": "Thread 1.4", "details": "CPU#3 [halted ]",
     "frame": {"level": "0", "addr": "0x0000fff0", "func": "??", "args": [], "arch": "i386"},
     "state": "stopped"}],
    "current-thread-id": "1"}

# HMP info registers with QMP cpu-index 1 (an AP never started), x87/SSE rows cut
AP_AT_RESET = """\
CPU#1
EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000663
ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000
EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=1
ES =0000 00000000 0000ffff 00009300
CS =f000 ffff0000 0000ffff 00009b00
SS =0000 00000000 0000ffff 00009300
DS =0000 00000000 0000ffff 00009300
FS =0000 00000000 0000ffff 00009300
GS =0000 00000000 0000ffff 00009300
LDT=0000 00000000 0000ffff 00008200
TR =0000 00000000 0000ffff 00008b00
GDT=     00000000 0000ffff
IDT=     00000000 0000ffff
CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000
DR0=00000000 DR1=00000000 DR2=00000000 DR3=00000000
DR6=ffff0ff0 DR7=00000400
EFER=0000000000000000
FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80
"""

# The same for cpu-index 0 at kernel_ready (PAE, NX)
BSP_AT_READY = """\
CPU#0
EAX=00000000 EBX=00000000 ECX=c012dfb8 EDX=000002fd
ESI=00000000 EDI=00000000 EBP=00000000 ESP=c012dfd0
EIP=c0100c40 EFL=00000086 [--S--P-] CPL=0 II=0 A20=1 SMM=0 HLT=0
ES =0010 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]
CS =0008 00000000 ffffffff 00cf9a00 DPL=0 CS32 [-R-]
SS =0010 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]
DS =0010 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]
FS =0010 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]
GS =0010 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]
LDT=0000 00000000 0000ffff 00008200 DPL=0 LDT
TR =0028 c012e080 00000067 00008900 DPL=0 TSS32-avl
GDT=     c012e100 00000037
IDT=     c012e140 000007ff
CR0=80010011 CR2=00000000 CR3=00124000 CR4=003000a0
DR0=00000000 DR1=00000000 DR2=00000000 DR3=00000000
DR6=ffff0ff0 DR7=00000400
EFER=0000000000000800
"""


def test_thread_info_gives_each_vcpu_its_thread_state_and_frame():
    threads = parse_thread_info(AT_READY)
    assert threads[0] == VcpuThread(gdb_id=1, cpu_index=0, halted=False, addr=0xC0100C40,
                                    func="kernel_ready")
    assert [(t.gdb_id, t.cpu_index, t.halted, t.addr, t.func) for t in threads[1:]] == [
        (2, 1, True, 0xFFF0, None), (3, 2, True, 0xFFF0, None), (4, 3, True, 0xFFF0, None)]


def test_threads_come_back_in_cpu_order_whatever_gdb_listed_first():
    shuffled = {"threads": AT_READY["threads"][::-1]}
    assert [t.cpu_index for t in parse_thread_info(shuffled)] == [0, 1, 2, 3]


def test_gdb_ids_need_not_follow_cpu_indices():
    # GDB numbers threads as it learns of them: after a reconnect they can
    # be 5..8; the vCPU is read from QEMU's details, never from the id.
    renumbered = {"threads": [dict(t, id=str(int(t["id"]) + 4)) for t in AT_READY["threads"]]}
    threads = parse_thread_info(renumbered)
    assert thread_of_cpu(threads, 0) == 5 and thread_of_cpu(threads, 3) == 8
    assert cpu_of_thread(threads, 6) == 1 and cpu_of_thread(threads, 1) is None


def test_a_cpu_that_is_not_there_is_named():
    with pytest.raises(IndexError, match=r"no vCPU 4: this machine has vCPUs \[0, 1, 2, 3\]"):
        thread_of_cpu(parse_thread_info(AT_READY), 4)


def test_details_that_are_not_qemus_are_refused():
    other = {"threads": [{"id": "1", "details": "Thread 0x7f00 (LWP 12)", "frame": {}}]}
    with pytest.raises(ValueError, match="not QEMU's"):
        parse_thread_info(other)


def test_two_threads_on_one_vcpu_are_refused():
    twice = {"threads": [AT_READY["threads"][1], dict(AT_READY["threads"][1], id="9")]}
    with pytest.raises(ValueError, match=r"two GDB threads claim one vCPU: cpu indices \[1, 1\]"):
        parse_thread_info(twice)


def test_info_registers_of_an_ap_at_reset():
    regs = parse_info_registers(AP_AT_RESET)
    assert (regs["cpu"], regs["halted"], regs["eip"], regs["cs"], regs["cr0"], regs["cr3"],
            regs["edx"], regs["eflags"], regs["efer"]) == (
        1, 1, 0xFFF0, 0xF000, 0x60000010, 0, 0x663, 0x2, 0)


def test_info_registers_as_the_monitor_sends_it_with_cr_lf():
    crlf = "\r\n" + AP_AT_RESET.replace("\n", "\r\n")
    assert parse_info_registers(crlf) == parse_info_registers(AP_AT_RESET)
    assert parse_info_registers(crlf)["cpu"] == 1


def test_info_registers_of_the_bsp_in_the_kernel():
    regs = parse_info_registers(BSP_AT_READY)
    assert (regs["cpu"], regs["halted"], regs["eip"], regs["esp"], regs["cs"], regs["ss"],
            regs["gs"], regs["gs_base"], regs["cr0"], regs["cr3"], regs["cr4"],
            regs["efer"]) == (
        0, 0, 0xC0100C40, 0xC012DFD0, 0x8, 0x10, 0x10, 0, 0x80010011, 0x124000, 0x3000A0,
        0x800)
    # TR, LDT, GDT and the debug registers are not GDB registers: left out
    assert not {"tr", "ldt", "gdt", "dr0", "dr7"} & set(regs)


def test_text_without_registers_is_refused():
    with pytest.raises(ValueError, match="not an info registers dump"):
        parse_info_registers("PG disabled\r\n")


def test_a_stop_names_its_thread():
    stop = StopEvent("breakpoint-hit", {"frame": {"addr": "0xc0100c40"}, "thread-id": "2",
                                        "stopped-threads": "all"})
    assert stop.thread == 2
    assert StopEvent("signal-received", {}).thread is None


def test_info_registers_all_reads_every_cpus_block():
    """QEMU 7.2's own ``info registers -a`` (two CPUs, trimmed, CR LF)."""
    text = ("\r\nCPU#0\r\nEAX=00000000 EBX=00000001 ECX=c012ffb8 EDX=000002fd\r\n"
            "ESI=00000000 EDI=00000000 EBP=00000000 ESP=c012ffd0\r\n"
            "EIP=c0100d60 EFL=00000086 [--S--P-] CPL=0 II=0 A20=1 SMM=0 HLT=0\r\n"
            "GS =0038 c0125040 00000127 00409300 DPL=0 DS   [-WA]\r\n"
            "LDT=0000 00000000 0000ffff 00008200 DPL=0 LDT\r\n"
            "TR =0028 c0125054 00000067 00008900 DPL=0 TSS32-avl\r\n"
            "GDT=     c0125128 0000003f\r\nIDT=     c0130000 000007ff\r\n"
            "CR0=80010011 CR2=00000000 CR3=00126000 CR4=003000a0\r\n"
            "EFER=0000000000000800\r\n\r\nCPU#1\r\nEIP=0000fff0 EFL=00000002 HLT=1\r\n"
            "CS =f000 ffff0000 0000ffff 00009b00\r\n")
    cpu0, cpu1 = parse_info_registers_all(text)
    assert cpu0.registers == {"eax": 0, "ebx": 1, "ecx": 0xC012FFB8, "edx": 0x2FD, "esi": 0,
                              "edi": 0, "ebp": 0, "esp": 0xC012FFD0, "eip": 0xC0100D60,
                              "eflags": 0x86, "gs": 0x38, "gs_base": 0xC0125040,
                              "cr0": 0x80010011, "cr2": 0, "cr3": 0x126000, "cr4": 0x3000A0,
                              "efer": 0x800, "halted": 0, "cpu": 0}
    assert cpu0.segments == {"gs": (0x38, 0xC0125040, 0x127), "ldt": (0, 0, 0xFFFF),
                             "tr": (0x28, 0xC0125054, 0x67)}
    assert cpu0.tables == {"gdt": (0xC0125128, 0x3F), "idt": (0xC0130000, 0x7FF)}
    assert cpu1.registers == {"eip": 0xFFF0, "eflags": 2, "cs": 0xF000, "halted": 1, "cpu": 1}
    assert cpu1.segments == {"cs": (0xF000, 0xFFFF0000, 0xFFFF)}
    assert cpu1.tables == {}


def test_info_registers_all_of_nothing_is_no_cpu():
    assert parse_info_registers_all("") == []
