"""Every test here ends with every address space's entries obeying the
kernel's invariants (no U in the kernel half, no writable text, user frames
used in the PMM and owned or shared as they should be, shared-memory
reference counts: harness/targets/mmverify/invariants.py)."""

import pytest

from tests.final_state import after_each_test, invariants
from tests.paging_matrix import paging, parametrize  # noqa: F401 (a fixture)

pytest_runtest_call = after_each_test(invariants)


def pytest_generate_tests(metafunc):
    parametrize(metafunc)  # every test in legacy and PAE paging (tests/paging_matrix.py)


@pytest.fixture
def no_leaks(machine, kernel):
    """The test ends with the kernel up and every frame and heap block back."""
    def measure():
        machine.call("heap_trim")
        return kernel.pmm_stats()["free_frames"], kernel.heap_stats()["live_blocks"]

    before = measure()
    yield
    assert machine.call("agent_nop", 11) == 11, "the kernel is up"
    assert measure() == before, "every frame and heap block came back"
