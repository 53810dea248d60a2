"""Every NUMA test runs booted in legacy and in PAE paging (tests/
paging_matrix.py; a test naming a mode runs once) and ends with the buddy
lists mirroring the bitmap, each block inside one node's zone
(harness/targets/mmverify/pmm_audit.py), and every address space obeying the
kernel's invariants: the node layout numa_init handed the PMM, and every
allocation under a policy, must leave the PMM and the page tables consistent."""

from tests.final_state import after_each_test, invariants
from tests.paging_matrix import paging, parametrize  # noqa: F401 (a fixture)


def buddy_consistent(item, m):
    from harness.targets.mmverify.kernel import Kernel
    from harness.targets.mmverify.pmm_audit import buddy_audit

    return buddy_audit(Kernel(m))


pytest_runtest_call = after_each_test(buddy_consistent, invariants)


def pytest_generate_tests(metafunc):
    parametrize(metafunc)
