"""This repository's firmware as a target: what the harness's machine layer
needs to know about it (the rest of what the harness knows of it is in this
folder: its structs, processes, layouts and boot limits)."""

from __future__ import annotations

from harness.decode.pagefault import PageFault
from harness.machine.machine import Machine
from harness.machine.qemu import EXIT_PANIC, QemuConfig
from harness.machine.target import CallGate, TargetProfile
from harness.targets.mmverify import bootlimits
from harness.targets.mmverify.build import Artifacts
from harness.targets.mmverify.constants import firmware_constants


def read_page_fault(machine: Machine) -> PageFault:
    """At page_fault_handler's entry: CR2, and the error code, EIP and CS the
    CPU pushed, from the trap frame that is the handler's argument."""
    from harness.targets.mmverify.kernel import Kernel

    regs = machine.registers("esp", "cr2")
    frame_addr = machine.read_u32(regs["esp"] + 4)
    frame = Kernel(machine).read_struct("trapframe", frame_addr)
    return PageFault(regs["cr2"], frame["err"], frame["eip"], frame["cs"])


def other_cpus_data(machine: Machine) -> list[tuple[int, int]]:
    """cpus[1..]: the struct cpu of every CPU but CPU 0, which each CPU
    writes itself (its IPI and tick counts), CPU 0 stuck or not."""
    base = machine.symbol("cpus")
    one, every = (int(machine.evaluate(f"sizeof({e})"), 0) for e in ("cpus[0]", "cpus"))
    return [(base + one, base + every)]


def check_config(cfg: QemuConfig, machine: Machine) -> None:
    """Refuse what the firmware could not take whole (see bootlimits)."""
    bootlimits.check(cfg, bootlimits.BootLimits.of(machine))


def profile(artifacts: Artifacts) -> TargetProfile:
    """The firmware built in ``artifacts``: its kernel.elf is also the symbol
    file, and the source of its constants.  Raises ConfigError when it has no
    symbol table, OSError when it is not there."""
    return TargetProfile(
        name="mmverify",
        boot="multiboot",
        symbol_file=artifacts.kernel,
        ready="kernel_ready",
        kernel_base=firmware_constants(artifacts.kernel)["KERNEL_BASE"],
        page_fault_entry="page_fault_handler",
        read_page_fault=read_page_fault,
        panic_exit_status=EXIT_PANIC,
        panic_record="PANIC",
        call_method="gate",
        call_gate=CallGate(trampoline="agent_call_trampoline", done="agent_call_done",
                           result="agent_call_result"),
        record_channel=True,
        debug_exit=True,
        check_config=check_config,
        progress_ignore=other_cpus_data,
    )
