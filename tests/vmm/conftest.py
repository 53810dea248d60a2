"""Every VMM test ends with the harness walker and QEMU's own view of the
page tables agreeing on the current address space, and with every address
space's entries obeying the kernel's invariants (no U in the kernel half,
user frames used and owned as they should be: harness/targets/mmverify/
invariants.py), checked right after the test body while its machine is
still there."""

import pytest

from harness.machine.oracle import walker_disagreements
from harness.targets.mmverify.invariants import violations
from harness.targets.mmverify.kernel import Kernel


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield  # a failing test raises here and is reported as it is
    m = item.funcargs.get("machine")
    if m is not None and m.alive and not m.gdb.running:
        # A module can set WALKER_CHECK = False when QEMU's views would take
        # too long (info tlb of a 768 MiB direct map: ~12 s); saying why.
        walker = getattr(item.module, "WALKER_CHECK", True)
        problems = (walker_disagreements(m) if walker else []) + violations(Kernel(m))
        assert not problems, "final state: " + "\n".join(problems)
    return result
