"""The cost of a page-cache hit: a 4 KiB read() of a cached page, the whole
system call, under -icount (instructions, exact): at most 1500 (issue 18),
in both paging modes."""

import pytest

from tests.fs.conftest import PROGRAMS_DISK

LIMIT = 1500


@pytest.mark.parametrize("paging", [
    pytest.param(mode, marks=pytest.mark.machine(disks=[PROGRAMS_DISK], icount=True,
                                                 cmdline=f"paging={mode}"))
    for mode in ("legacy", "pae")])
def test_a_cached_page_reads_in_under_1500_instructions(machine, userland, paging):
    pid = userland.spawn("/bin/fsbench", "/data/exact 16")
    assert userland.run()[pid].status == 0
    [claim] = userland.claims("USER", pid=pid)
    assert 0 < claim.int("best_insns") <= claim.int("read_insns") <= LIMIT
