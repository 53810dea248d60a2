"""The pool tests run in legacy and PAE paging: a page table from the
reserve is a PAE page table in one, a legacy one in the other."""

from tests.paging_matrix import paging, parametrize  # noqa: F401 (a fixture)


def pytest_generate_tests(metafunc):
    parametrize(metafunc)  # every test in legacy and PAE paging (tests/paging_matrix.py)
