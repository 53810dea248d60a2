"""Stock Debian Linux i386 through the harness's own API: the same machine
fixture, pool, walker, oracle and expect_fault the firmware's tests use, with
``@pytest.mark.machine(target="linux")`` (harness/targets/linux).

The first test in a worker boots Linux to its busybox prompt (5-10 s) and
saves a snapshot; every later one restores it (tens of ms).  Symbols come
from /proc/kallsyms (cached in build/linux/ per kernel image after the first
read) and the probe's own ELF.
"""

from __future__ import annotations

import pytest

from harness import timeouts
from harness.targets.linux import kernel
from harness.targets.linux.profile import prepare
from harness.targets.linux.shell import Shell

# Seconds for the guest to get somewhere (a program started at the prompt to
# its system call, a fault), before --timeout-scale: Linux under TCG on a
# loaded host.
WAIT = 30.0


@pytest.fixture(scope="session")
def linux_assets(firmware):
    """Debian's kernel and busybox (fetched once, under a lock) and our probe."""
    found, _initrd = prepare(firmware.build_dir)
    return found


@pytest.fixture
def ksym(machine):
    """The kernel's text symbols the tests use (the machine stays stopped)."""
    return kernel.symbols(machine)


@pytest.fixture(scope="session")
def probe(linux_assets):
    """mmvprobe's symbols: mmv_fault_insn, mmv_syscall_ret, mmv_marker."""
    return kernel.elf_symbols(linux_assets.probe)


@pytest.fixture
def shell(machine):
    return Shell(machine)


def stop_in_read(machine, shell, ksym, probe, mode: str) -> None:
    """Run ``mmvprobe MODE`` and stop in its read() system call: at
    __ia32_sys_read (regparm: EAX = pt_regs) when the user EIP saved in
    pt_regs is mmvprobe's mmv_syscall_ret, which no other program has."""
    bp = machine.break_at(ksym["__ia32_sys_read"], hardware=True,
                          condition=f"*(unsigned int*)($eax + {kernel.PT_REGS_IP}) == "
                                    f"{probe['mmv_syscall_ret']:#x}")
    shell.start(f"mmvprobe {mode}")
    stop = machine.wait_stopped(timeouts.scaled(WAIT))
    machine.delete_breakpoint(bp)
    assert stop.addr == ksym["__ia32_sys_read"]
