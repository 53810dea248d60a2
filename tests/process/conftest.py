"""Every test here ends with every address space's entries obeying the
kernel's invariants (no U in the kernel half, no writable text, user frames
used in the PMM and owned or shared as they should be, shared-memory
reference counts: harness/targets/mmverify/invariants.py)."""

from tests.final_state import after_each_test, invariants
from tests.paging_matrix import paging, parametrize  # noqa: F401 (a fixture)

pytest_runtest_call = after_each_test(invariants)


def pytest_generate_tests(metafunc):
    parametrize(metafunc)  # every test in legacy and PAE paging (tests/paging_matrix.py)
