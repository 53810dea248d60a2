"""Every NUMA test ends with the buddy lists mirroring the bitmap, each
block inside one node's zone (harness/targets/mmverify/pmm_audit.py): the
node layout numa_init handed the PMM, and every allocation under a policy,
must leave the PMM consistent."""

from tests.final_state import after_each_test


def buddy_consistent(item, m):
    from harness.targets.mmverify.kernel import Kernel
    from harness.targets.mmverify.pmm_audit import buddy_audit

    return buddy_audit(Kernel(m))


pytest_runtest_call = after_each_test(buddy_consistent)
