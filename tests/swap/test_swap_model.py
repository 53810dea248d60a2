"""Model-based: random sequences of writes, reads, pageouts, forks and a
child's exit over an 8-page private mapping, driven through vmdriver (one
operation at a time), against a model of each process's page contents.
After every step: every read returned what the model says the page holds
(whether it came from RAM, the swap cache, or the pool); each process's
swap entries are exactly its swapped_pages; and the whole audit holds
(invariants.py: the frame table with the swap cache's references, and the
swap audit: every slot in use referenced by exactly the PTEs and swap-cache
entry naming it).  Pool only (no disk), few examples, derandomised."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.targets.mmverify.invariants import violations
from tests.process.vmdriver import PRIVATE, RW, VmDriver, from_ready
from tests.swap.swapping import swap_stats

pytestmark = pytest.mark.machine(modules=["user/vmdriver"], cmdline="aslr=off")

PAGE = 4096
WINDOW = 8      # pages of the mapping
PROCESSES = 3   # at most, live at once


def draw_step(data, pages: dict[int, int], forks: bool, exits: bool) -> tuple:
    kinds = ["write", "write", "pageout", "pageout"] + ["fork"] * forks + ["exit"] * exits
    kinds += ["read", "read"] * bool(pages)
    op = data.draw(st.sampled_from(kinds))
    if op == "read":
        return op, data.draw(st.sampled_from(sorted(pages)))
    if op == "write":
        return op, data.draw(st.integers(0, WINDOW - 1)), data.draw(st.integers(1, 0xFFFF))
    if op == "pageout":
        first = data.draw(st.integers(0, WINDOW - 1))
        return op, first, data.draw(st.integers(1, WINDOW - first))
    return (op,)


def swapped_entries(vm, base) -> int:
    return sum(1 for _ in vm.u.address_space(vm.pid).swap_pages(base, base + WINDOW * PAGE))


@settings(max_examples=5, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_contents_and_slots_follow_the_model(userland, kernel, data):
    from_ready(userland)
    root = VmDriver(userland)
    base = root.do("mmap", 0, WINDOW * PAGE, RW, PRIVATE)
    procs: list[tuple[VmDriver, dict[int, int]]] = [(root, {})]  # page -> its first word
    try:
        for _ in range(data.draw(st.integers(8, 16))):
            i = data.draw(st.integers(0, len(procs) - 1))
            vm, pages = procs[i]
            step = draw_step(data, pages, forks=len(procs) < PROCESSES, exits=i > 0)
            if step[0] == "fork":
                procs.append((vm.fork(), dict(pages)))
            elif step[0] == "exit":
                assert not vm.finish().killed
                procs.pop(i)
            elif step[0] == "write":
                _, page, value = step
                assert vm.do("write", base + page * PAGE, value=value) == 0
                pages[page] = value
            elif step[0] == "read":
                assert vm.do("read", base + step[1] * PAGE) == pages[step[1]], step
            else:
                _, first, count = step
                went = vm.do("pageout", base + first * PAGE, count * PAGE)
                assert 0 <= went <= count, step
            for d, _ in procs:
                assert swapped_entries(d, base) == d.process()["swapped_pages"], step
            assert violations(kernel) == [], f"the audit after {step}"
    finally:
        root.finish_all()
    assert not root.ended.killed
    assert swap_stats(kernel)["in_use"] == 0, "every slot freed with its processes"
