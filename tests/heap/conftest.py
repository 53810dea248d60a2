"""Every heap test ends with heap_check() finding the heap consistent: a
detected corruption is quarantined, never left to spread."""

from tests.final_state import after_each_test
from tests.paging_matrix import paging, parametrize  # noqa: F401 (a fixture)


def heap_consistent(item, m):
    mark = m.mark()
    return [] if m.call("heap_check") == 0 else [m.record_channel.text(mark)]


pytest_runtest_call = after_each_test(heap_consistent)


def pytest_generate_tests(metafunc):
    parametrize(metafunc)  # every test in legacy and PAE paging (tests/paging_matrix.py)
