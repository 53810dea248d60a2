"""copy_to_user refuses a destination outside user space before touching it:
-EFAULT, and the kernel memory there is left as it was.  Called directly
(no system call copies out yet); the destination is the agent's scratch
buffer, mapped and writable for the kernel, so only the range check stands
between the call and a write into the kernel."""

import pytest

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

EFAULT = -14
PATTERN = b"\x11\x22\x33\x44"


def test_a_kernel_destination_is_efault_and_untouched(machine):
    scratch = machine.symbol("agent_scratch")
    machine.write(scratch, b"\0" * 8)
    machine.write(scratch + 64, PATTERN)
    assert machine.call("copy_to_user", scratch, scratch + 64, 4) == EFAULT
    assert machine.read(scratch, 8) == b"\0" * 8


def test_nothing_to_copy_is_zero_wherever_it_points(machine):
    scratch = machine.symbol("agent_scratch")
    machine.write(scratch, b"\0" * 8)
    assert machine.call("copy_to_user", scratch, scratch + 64, 0) == 0
    assert machine.read(scratch, 8) == b"\0" * 8
