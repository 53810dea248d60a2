"""Every test here ends with every address space's entries obeying the
kernel's invariants (no U in the kernel half, no writable text, user frames
used in the PMM and owned or shared as they should be, shared-memory
reference counts: harness/targets/mmverify/invariants.py), checked right
after the test body while its machine is still there."""

import pytest

from harness.targets.mmverify.invariants import violations
from harness.targets.mmverify.kernel import Kernel


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield  # a failing test raises here and is reported as it is
    m = item.funcargs.get("machine")
    if m is not None and m.alive and not m.gdb.running:
        problems = violations(Kernel(m))
        assert not problems, "final state: " + "\n".join(problems)
    return result
