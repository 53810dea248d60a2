"""Every swap test ends with the kernel's invariants holding
(harness/targets/mmverify/invariants.py), the frame audit (the swap cache's
references counted) and the swap audit among them: every slot in use is
referenced by exactly the swap entries and swap-cache entry naming it."""

from tests.final_state import after_each_test, invariants
from tests.paging_matrix import paging, parametrize  # noqa: F401 (a fixture)

pytest_runtest_call = after_each_test(invariants)


def pytest_generate_tests(metafunc):
    parametrize(metafunc)  # every test in legacy and PAE paging (tests/paging_matrix.py)
