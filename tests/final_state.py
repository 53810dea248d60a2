"""Checks a test directory runs on the machine right after each test's body,
while the machine is still there (each directory's conftest.py names its
checks): a test that passes but leaves the kernel inconsistent fails."""

from collections.abc import Callable

import pytest

from harness.machine.machine import Machine

Check = Callable[[pytest.Item, Machine], list[str]]  # the problems found, as sentences


def after_each_test(*checks: Check) -> Callable:
    """A ``pytest_runtest_call`` hook wrapper running ``checks`` on the test's
    machine (when it is alive and stopped); a failing test is reported as it is."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(item: pytest.Item):
        result = yield
        m = item.funcargs.get("machine")  # type: ignore[attr-defined]
        if m is not None and m.alive and not m.gdb.running:
            problems = [p for check in checks for p in check(item, m)]
            assert not problems, "final state: " + "\n".join(problems)
        return result

    return pytest_runtest_call


def invariants(item: pytest.Item, m: Machine) -> list[str]:
    """Every address space's entries obey the kernel's invariants
    (harness/targets/mmverify/invariants.py)."""
    from harness.targets.mmverify.invariants import violations
    from harness.targets.mmverify.kernel import Kernel

    return violations(Kernel(m))
