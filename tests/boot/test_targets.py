"""The machine layer driven by a profile of the test's own: this firmware's
image booted as a kernel the harness knows nothing about (no symbol file, no
call gate, no record channel), as a user brings their own kernel."""

import pytest

from harness import ConfigError
from harness.machine.oracle import walker_disagreements
from harness.machine.target import TargetProfile
from harness.targets.mmverify.processes import elf_symbols

KERNEL_BASE = 0xC0000000


@pytest.fixture
def foreign(firmware):
    """A profile that knows only where the kernel is ready, by address."""
    ready = elf_symbols(firmware.kernel)["kernel_ready"]
    return TargetProfile(name="some-kernel", ready=ready, debug_exit=False)


def test_a_kernel_without_symbols_boots_to_its_ready_address(boot, firmware, foreign):
    machine = boot(target=foreign, kernel=firmware.kernel)
    machine.run_to(foreign.ready)
    assert machine.reg("eip") == foreign.ready
    assert machine.reg("cr3") == elf_symbols(firmware.kernel)["kernel_page_directory"] - \
        KERNEL_BASE
    assert walker_disagreements(machine) == []


def test_what_a_profile_leaves_out_is_an_error_naming_the_field(boot, firmware, foreign):
    machine = boot(target=foreign, kernel=firmware.kernel)
    machine.run_to(foreign.ready)
    with pytest.raises(ConfigError, match=r"machine.call\('agent_nop'\) needs "
                                          r"TargetProfile.call_method, which target "
                                          r"'some-kernel' does not set"):
        machine.call("agent_nop", 1)
    with pytest.raises(ConfigError, match="has no record channel"):
        machine.records()


def test_the_pool_runs_a_foreign_kernel_to_its_ready_point(request, firmware, machine_pool,
                                                           foreign):
    from harness.pytest_plugin import machine_config

    cfg = machine_config(request, firmware, target=foreign, kernel=firmware.kernel)
    machine = machine_pool.acquire(cfg)
    assert machine.reg("eip") == foreign.ready
    again = machine_pool.acquire(cfg)  # restored from the snapshot taken there
    assert again is machine and machine.reg("eip") == foreign.ready
