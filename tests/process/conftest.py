"""Every test here ends with every address space's entries obeying the
kernel's invariants (no U in the kernel half, no writable text, user frames
used in the PMM and owned or shared as they should be, shared-memory
reference counts: harness/targets/mmverify/invariants.py)."""

import pytest

from tests.final_state import after_each_test, invariants
from tests.paging_matrix import paging, parametrize  # noqa: F401 (a fixture)
from tests.process.vmdriver import VmDriver

pytest_runtest_call = after_each_test(invariants)


def pytest_generate_tests(metafunc):
    parametrize(metafunc)  # every test in legacy and PAE paging (tests/paging_matrix.py)


@pytest.fixture
def vm(userland):
    """A vmdriver process, stopped at its first checkpoint; at the end it and
    every child it forked are let exit."""
    driver = VmDriver(userland)
    yield driver
    driver.finish_all()
