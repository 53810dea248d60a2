"""Every NUMA test runs booted in legacy and in PAE paging (tests/
paging_matrix.py; a test naming a mode runs once) and ends with every
address space obeying the kernel's invariants, the buddy maps among them:
mirroring the bitmap, each block inside one node's zone (violations() runs
harness/targets/mmverify/pmm_audit.py's buddy_audit).  The node layout
numa_init handed the PMM, and every allocation under a policy, must leave
the PMM and the page tables consistent."""

from tests.final_state import after_each_test, invariants
from tests.paging_matrix import paging, parametrize  # noqa: F401 (a fixture)

pytest_runtest_call = after_each_test(invariants)


def pytest_generate_tests(metafunc):
    parametrize(metafunc)
