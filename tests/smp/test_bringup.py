"""AP bring-up (kernel/smp.c, arch/i386/ap_trampoline.S), judged from QEMU's
own view of every vCPU (HMP ``info registers -a``, ``info cpus``) and from
guest RAM: each started CPU runs the kernel's paging (its CR3, the BSP's CR0
and CR4, EFER.NXE wherever the tables have NX bits), on its own GDT and TSS,
with GS based at its own struct cpu, on its own stack, halted in the idle
loop; the SMP records name exactly those CPUs.  A CPU that never gets its
SIPI (``smp_start=off``) is recorded as not started, left in QEMU's
wait-for-SIPI state, and the boot still reaches kernel_ready."""

import re
import time

import pytest

from harness import timeouts
from harness.decode.vcpus import parse_info_registers_all
from harness.targets.mmverify.kernel import Kernel
from tests.smp.idle import idle_resume_address

KERNEL_BASE = 0xC0000000
SEG_TSS, SEG_DF_TSS, SEG_KPERCPU = 0x28, 0x30, 0x38
GDT_LIMIT = 8 * 8 - 1  # GDT_ENTRIES descriptors
CR0_PG = 0x80000000
EFER_NXE = 0x800
LVT_MASKED, LVT_EXTINT, LVT_NMI = 0x10000, 0x700, 0x400
PAGE = 4096


WAITING_FOR_SIPI = (1, 0xFFF0, 0xF000)  # halted at the reset vector


def resting(view):
    """(halted, EIP, CS) of a vCPU from info registers."""
    return view.registers["halted"], view.registers["eip"], view.segments["cs"][0]


def vcpus(machine, count):
    cpus = parse_info_registers_all(machine.monitor("info registers -a"))
    listed = re.findall(r"CPU #(\d+):", machine.monitor("info cpus"))
    assert listed == [str(i) for i in range(count)], "QEMU has the vCPUs the test asked for"
    assert len(cpus) == count
    return cpus


def settle(machine, count):
    """Under MTTCG an AP that has just come online may not have reached its
    hlt when CPU 0 stops at kernel_ready (its host thread had no turn yet):
    let the machine run a little (a call on CPU 0) until every AP has, within
    a time bound (the test then fails on the AP's EIP), so the AP is judged
    where it rests."""
    deadline = time.monotonic() + timeouts.scaled(timeouts.RUN)
    resume = idle_resume_address(machine)
    while time.monotonic() < deadline:
        if all((v.registers["halted"], v.registers["eip"]) == (1, resume)
               for v in vcpus(machine, count)[1:]):
            return
        machine.call("agent_nop", 0)


def cpu_struct(kernel, machine, i):
    base = machine.symbol("cpus") + i * kernel.sizeof("struct cpu")
    return base, kernel.read_struct("cpu", base)


def lapic(machine, apic_id):
    """(SPIV, LVT0, LVT1) of one local APIC, from QEMU's ``info lapic``."""
    text = machine.monitor(f"info lapic {apic_id}")
    regs = dict(re.findall(r"^(SPIV|LVT0|LVT1)\s+0x([0-9a-f]{8})", text, re.M))
    return int(regs["SPIV"], 16), int(regs["LVT0"], 16), int(regs["LVT1"], 16)


def descriptor_base(raw):
    """The base address of one 8-byte GDT descriptor."""
    return raw[2] | raw[3] << 8 | raw[4] << 16 | raw[7] << 24


def double_fault_task(machine, i):
    """(TSS the GDT's SEG_DF_TSS names, its eip, esp, cr3) for cpus[i]."""
    raw = machine.read(address_of(machine, f"&cpus[{i}].gdt") + SEG_DF_TSS, 8)
    fields = [int(machine.evaluate(f"cpus[{i}].df_tss.{f}"), 0) for f in ("eip", "esp", "cr3")]
    return (descriptor_base(raw), *fields)


def address_of(machine, expression):
    """A kernel address GDB computes from the debug info (``&cpus[1].tss``)."""
    return int(re.search(r"0x[0-9a-f]+", machine.evaluate(expression))[0], 16)


def smp_start_records(machine):
    """(cpu, apic, state) of each AP start, from the SMP records."""
    return [(r["cpu"], r["apic"], r["state"])
            for r in machine.records("SMP") if "state" in r.fields]


def online_record(machine):
    [rec] = [r for r in machine.records("SMP") if "online" in r.fields]
    return rec.int("online"), rec["mask"]


def bringup(count, paging, icount=False, bios="auto"):
    """-icount runs every vCPU on one TCG thread: the BSP's wait must pause
    to let the AP run at all.  SeaBIOS leaves low memory and the LAPICs
    otherwise than qboot (it sets up the virtual wire itself)."""
    name = f"smp{count}-{paging}" + ("-icount" if icount else "") + (
        f"-{bios}" if bios != "auto" else "")
    return pytest.param(count, paging, id=name, marks=pytest.mark.machine(
        smp=count, cpu="max", icount=icount, bios=bios, cmdline=f"paging={paging}"))


@pytest.mark.parametrize("count,paging", [bringup(2, "legacy"), bringup(2, "pae"),
                                          bringup(4, "legacy"), bringup(4, "pae"),
                                          bringup(8, "pae"),
                                          bringup(2, "pae", icount=True),
                                          bringup(4, "legacy", icount=True),
                                          bringup(2, "pae", bios="seabios")])
def test_every_cpu_runs_the_kernel_on_its_own_gdt_tss_and_stack(machine, kernel, count, paging):
    assert kernel.paging_mode() == paging
    # cpu=max has NX: in PAE the kernel's tables carry NX bits, so an AP
    # without EFER.NXE could not even use its stack.
    assert kernel.nx_enabled() == (paging == "pae")
    kernel_cr3 = machine.symbol("kernel_page_directory") - KERNEL_BASE
    settle(machine, count)
    views = vcpus(machine, count)
    bsp = views[0]
    resume = idle_resume_address(machine)
    stacks = set()
    for i, view in enumerate(views):
        base, cpu = cpu_struct(kernel, machine, i)
        regs = view.registers
        assert (cpu["self"], cpu["index"], cpu["apic_id"], cpu["online"]) == (base, i, i, 1)
        assert regs["cr0"] & CR0_PG and regs["cr0"] == bsp.registers["cr0"], f"CPU {i}"
        assert regs["cr3"] == kernel_cr3, f"CPU {i} on the kernel's tables"
        assert regs["cr4"] == bsp.registers["cr4"], f"CPU {i}"
        assert bool(regs["efer"] & EFER_NXE) == kernel.nx_enabled(), f"CPU {i}"
        assert view.segments["gs"][:2] == (SEG_KPERCPU, base), f"CPU {i}: GS is its struct cpu"
        assert view.segments["tr"][:2] == (
            SEG_TSS, address_of(machine, f"&cpus[{i}].tss")), f"CPU {i}: its own TSS"
        assert view.tables["gdt"] == (address_of(machine, f"&cpus[{i}].gdt"), GDT_LIMIT)
        assert view.tables["idt"] == bsp.tables["idt"], "one IDT for every CPU"
        top = cpu["stack_top"]
        assert top - PAGE < regs["esp"] <= top, f"CPU {i}: ESP inside its own stack"
        stacks.add(top)
        # Its own double-fault task, in the kernel's space, on a stack of its own.
        df_tss, df_eip, df_esp, df_cr3 = double_fault_task(machine, i)
        assert (df_tss, df_eip, df_cr3) == (address_of(machine, f"&cpus[{i}].df_tss"),
                                            machine.symbol("double_fault_task"), kernel_cr3)
        stacks.add(df_esp)
        if i:
            assert (regs["halted"], regs["eip"]) == (1, resume), f"CPU {i} halted in ap_idle"
            # Software-enabled (spurious vector 0xFF); LINT0/LINT1 stay masked
            # as INIT left them: the 8259's virtual wire is the BSP's alone.
            assert lapic(machine, i) == (0x1FF, LVT_MASKED, LVT_MASKED), f"CPU {i}'s LAPIC"
        else:
            assert lapic(machine, 0) == (0x1FF, LVT_EXTINT, LVT_NMI), "the BSP's virtual wire"
    assert len(stacks) == 2 * count, "no two CPUs share a stack or a double-fault stack"
    assert smp_start_records(machine) == [(str(i), str(i), "online") for i in range(1, count)]
    assert online_record(machine) == (count, hex((1 << count) - 1))
    used, _ = kernel.pmm_bitmaps()
    assert used[0x8000 // PAGE], "the trampoline page is never handed out"


@pytest.mark.machine(smp=2, cmdline="smp_start=off")
def test_a_cpu_that_gets_no_sipi_is_recorded_and_left_out(machine, kernel):
    """INIT but no SIPI: the AP really never starts, the BSP gives up after
    its two waits, and the boot reaches kernel_ready (the fixture's stop)."""
    assert smp_start_records(machine) == [("1", "1", "no-start")]
    assert online_record(machine) == (1, "0x1")
    ap = vcpus(machine, 2)[1]
    # The reset state QEMU leaves a CPU in while it waits for a SIPI.
    assert (resting(ap), ap.registers["cr0"]) == (WAITING_FOR_SIPI, 0x60000010)
    _, cpu = cpu_struct(kernel, machine, 1)
    assert (cpu["online"], cpu["stack_top"]) == (0, 0), "offline, its stacks given back"
    assert kernel.u32("cpu_online_mask") == 1


@pytest.mark.machine(smp=1)
def test_the_bsp_alone_has_its_per_cpu_segment(machine, kernel):
    [bsp] = vcpus(machine, 1)
    base = machine.symbol("cpus")
    assert bsp.segments["gs"][:2] == (SEG_KPERCPU, base)
    assert bsp.segments["tr"][:2] == (SEG_TSS, address_of(machine, "&cpus[0].tss"))
    assert machine.registers("gs_base")["gs_base"] == base, "GDB sees the same GS base"
    assert smp_start_records(machine) == []
    assert online_record(machine) == (1, "0x1")


@pytest.mark.machine(smp=2, cpu="486")
def test_a_cpu_without_an_apic_in_cpuid_starts_no_one(machine):
    """QEMU gives a 486 a LAPIC anyway, but CPUID says there is none: the
    kernel stays on the BSP and never touches the other vCPU."""
    assert smp_start_records(machine) == []
    assert online_record(machine) == (1, "0x1")
    ap = vcpus(machine, 2)[1]
    assert resting(ap) == WAITING_FOR_SIPI


CPU_STACK_PAGES = 2  # include/kernel/smp.h: an AP's idle stack


@pytest.mark.parametrize("count,start,kept", [(4, "on", (CPU_STACK_PAGES + 1) * 3),
                                              (2, "off", 0)],
                         ids=["smp4-started", "smp2-no-start"])
def test_each_started_cpu_keeps_its_stacks_and_nothing_else(boot, count, start, kept):
    """Against the same boot on one CPU: an AP that came online keeps its
    stack's frames (the kernel half's page tables exist already) and its
    double-fault stack; the boot tables go back once every AP is on the
    kernel's CR3, and an AP that never started gives its back."""
    def free_at_ready(smp):
        m = boot(smp=smp, cmdline=f"smp_start={start}")
        m.run_to("kernel_ready")
        return Kernel(m).pmm_stats()["free_frames"]
    assert free_at_ready(1) - free_at_ready(count) == kept


@pytest.mark.parametrize("paging", ["legacy", "pae"])
def test_no_ap_is_started_after_a_straggler(boot, paging):
    """CPU 1 claims the parameter block and then stops for good (the harness
    sends it from just after its claim to the trampoline's `cli; hlt`): the
    BSP's waits run out with the block claimed, so CPU 1 is a straggler that
    may still read the block.  CPU 2 must then not be started (the block
    would be refilled with CPU 2's stack and struct cpu under CPU 1): it is
    recorded no-start and stays where reset left it (review 1.1)."""
    m = boot(smp=3, cmdline=f"paging={paging}")
    m.run_to("smp_init")
    code = m.read(m.symbol("ap_trampoline_start"), 64)
    after_claim = code.index(bytes([0x66, 0x0F, 0x01]))  # lgdtl: the claim was taken
    halt_loop = code.index(bytes([0xFA, 0xF4]))          # cli; hlt: "nobody waits for it"
    m.break_at(0x8000 + after_claim, hardware=True, cpu=1)
    stop = m.cont()
    assert (stop.cpu, m.on_cpu(1).registers("eip")["eip"]) == (1, after_claim)
    m.delete_breakpoints()
    m.on_cpu(1).write_registers(eip=halt_loop)
    m.run_to("kernel_ready")
    assert smp_start_records(m) == [("1", "1", "no-start"), ("2", "2", "no-start")]
    assert online_record(m) == (1, "0x1")
    ap2 = vcpus(m, 3)[2]
    assert resting(ap2) == WAITING_FOR_SIPI


@pytest.mark.parametrize("paging", ["legacy", "pae"])
def test_a_late_ap_leaves_the_claim_to_the_ap_it_was_written_for(boot, kernel, paging):
    """smp_stray_sipi=on: CPU 1 gets no SIPI of its own (no-start, back in
    wait-for-SIPI), then one just after CPU 2's claim is written, as a CPU
    whose INIT lands late would run the trampoline while the block waits for
    the next AP (review 1.2).  The claim names CPU 2's APIC ID, so CPU 1
    halts without it and CPU 2 comes online on its own block.  With a claim
    any CPU can take, CPU 1 takes CPU 2's stack and struct cpu: the records
    still say CPU 2 online, but the CPU in ap_idle is CPU 1 and CPU 2 is the
    one halted in the trampoline."""
    m = boot(smp=3, icount=True, cmdline=f"paging={paging} smp_stray_sipi=on")
    m.run_to("smp_init")
    code = m.read(m.symbol("ap_trampoline_start"), 64)
    claimed = code.index(bytes([0x66, 0x0F, 0x01]))  # lgdtl: the claim was taken
    halt_loop = code.index(bytes([0xFA, 0xF4]))       # cli; hlt: "nobody waits for it"
    for where in (claimed, halt_loop):
        m.break_at(0x8000 + where, hardware=True, cpu=1)
    stop = m.cont()
    assert (stop.cpu, m.on_cpu(1).registers("eip")["eip"]) == (1, halt_loop)
    m.delete_breakpoints()
    m.run_to("kernel_ready")
    assert smp_start_records(m) == [("1", "1", "no-start"), ("2", "2", "online")]
    assert online_record(m) == (2, "0x5")
    cpu1 = vcpus(m, 3)[1]
    assert (cpu1.registers["halted"], cpu1.registers["eip"]) == (1, halt_loop + 2)  # past its hlt
    cpu2 = m.on_cpu(2).registers("gs_base")
    assert cpu2["gs_base"] == m.symbol("cpus") + 2 * kernel.sizeof("struct cpu")
