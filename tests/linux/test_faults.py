"""expect_fault on Debian's kernel: mmvprobe's user-mode null write caught at
Linux's page-fault entry (exc_page_fault), with the address, error bits and
EIP the CPU reported; then the kernel's own report of the SIGSEGV agrees."""

from __future__ import annotations

import re

import pytest

from harness import timeouts
from harness.machine.faults import expect_fault

from .conftest import WAIT, stop_in_read

pytestmark = pytest.mark.machine(target="linux")


def test_the_user_null_write_is_caught_at_linux_page_fault_entry(machine, shell, ksym, probe):
    # mmvprobe first waits for a line in read(): exec's own page faults are
    # over, and the next user fault is the null write.
    stop_in_read(machine, shell, ksym, probe, "fault")
    with expect_fault(machine, addr=0, write=True, user=True, present=False) as caught:
        shell.type("\r")
        machine.wait_stopped(timeouts.scaled(WAIT))
    assert machine.reg("eip") == ksym["exc_page_fault"]
    fault = caught.fault
    assert (fault.addr, fault.err, fault.eip) == (0, 0x6, probe["mmv_fault_insn"])
    assert fault.cs & 3 == 3 and fault.kind == "not-present" and fault.access == "write"

    # Linux kills it with SIGSEGV and says so in its log (show_unhandled_signals):
    # the same address, EIP and error code.
    log = shell.run("dmesg | grep 'mmvprobe.*segfault'", timeout=timeouts.scaled(WAIT))
    said = re.findall(r"mmvprobe\[\d+\]: segfault at (\w+) ip (\w+) sp \w+ error (\d+)", log)
    assert [(int(a, 16), int(ip, 16), int(e, 16)) for a, ip, e in said] == [
        (0, fault.eip, fault.err)], log
