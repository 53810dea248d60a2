"""Every VMM test ends with the harness walker and QEMU's own view of the
page tables agreeing on the current address space, and with every address
space's entries obeying the kernel's invariants (no U in the kernel half,
user frames used and owned as they should be: harness/targets/mmverify/
invariants.py)."""

from harness.machine.oracle import walker_disagreements
from tests.final_state import after_each_test, invariants
from tests.paging_matrix import paging, parametrize  # noqa: F401 (a fixture)


def walker_matches_qemu(item, m):
    # A module can set WALKER_CHECK = False when QEMU's views would take too
    # long (info tlb of a 768 MiB direct map: ~12 s); saying why.
    return walker_disagreements(m) if getattr(item.module, "WALKER_CHECK", True) else []


pytest_runtest_call = after_each_test(walker_matches_qemu, invariants)


def pytest_generate_tests(metafunc):
    parametrize(metafunc)  # every test in legacy and PAE paging (tests/paging_matrix.py)
