"""SMEP and SMAP: on when the CPU has them (QEMU's -cpu max), reported
unavailable when not (-cpu qemu32); each attacked to show it works."""

import pytest

from harness import GuestPanic
from harness.faults import expect_fault
from harness.kernel import KERNEL_BASE

CR4_SMEP, CR4_SMAP = 1 << 20, 1 << 21


@pytest.mark.parametrize("cpu,expected", [("max", "on"), ("qemu32", "unavailable")])
def test_features_detected_and_reported(boot, cpu, expected):
    m = boot(cpu=cpu)
    m.run_to("kernel_ready")
    record = m.records("SECURITY")[0]
    assert record["smep"] == record["smap"] == expected
    cr4 = m.reg("cr4")
    assert bool(cr4 & CR4_SMEP) == bool(cr4 & CR4_SMAP) == (expected == "on")


def requires(machine, feature):
    if machine.records("SECURITY")[0][feature] != "on":
        pytest.skip(f"this CPU model has no {feature.upper()} (--cpu)")


@pytest.mark.machine(modules=["user/*"])
def test_smap_stops_a_plain_kernel_read_of_user_memory(machine, userland):
    requires(machine, "smap")
    pid = userland.spawn("isolation", "8")  # spawned, not run: its space is built
    directory = userland.process(pid).cr3 + KERNEL_BASE
    text = userland.symbol("isolation", "main")
    with expect_fault(machine, addr=text, present=True, user=False, write=False):
        assert machine.call("agent_read_user_in", directory, text, 0) == -14
    assert machine.call("agent_read_user_in", directory, text, 1) == 0, "copy_from_user may"
    value = machine.read_u32(machine.symbol("agent_probe_value"))
    assert value == int.from_bytes(userland.read(pid, text, 4), "little")
    userland.run()


@pytest.mark.machine(modules=["user/*"])
def test_smep_stops_the_kernel_executing_a_user_page(machine, userland):
    requires(machine, "smep")
    pid = userland.spawn("isolation", "9")
    directory = userland.process(pid).cr3 + KERNEL_BASE
    machine.call("switch_page_directory", directory)  # the call keeps CR3 switched
    user_code = userland.symbol("isolation", "main")
    machine.set_reg("eip", user_code)  # the CPU is in ring 0: CS is the kernel's
    with pytest.raises(GuestPanic), expect_fault(machine, addr=user_code, fetch=True,
                                                 present=True, user=False):
        machine.cont()
        machine.cont()  # from the handler's entry on: a kernel fault nothing expects
    pf = machine.records("PF")[-1]
    assert pf.int("err") & 0x10 and pf["access"] == "fetch" and pf["mode"] == "kernel"
