"""Model-based: random sequences of mmap, munmap, mprotect, writes and reads
through vmdriver, against tests/process/vm_model.py.  After every step the
result (address or errno), the whole region list (from the process table),
the set of present pages with their write bit (from the walker), every
resident page's contents (guest RAM, through the process's page tables) and
the process's resident and reserved page counts must equal the model's.

Operations stay in a 16-page window at the mmap area's base (aslr=off), so
they collide often: fixed maps over others, splits and merges, holes that
kernel-chosen addresses fill.  Few examples, derandomised: each spawns one
vmdriver on the same booted machine."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.process.vm_model import VmModel
from tests.process.vmdriver import (
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MAP_SHARED,
    MMAP_AREA,
    PAGE,
    PROT_NONE,
    VmDriver,
)

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

BASE = MMAP_AREA[0]
WINDOW = 16                 # pages the operations aim at
CHECKED = 64 * PAGE         # where pages are compared (kernel-chosen ones may lie above)
WRITE_BIT = 0x2
KINDS = (MAP_PRIVATE, MAP_SHARED)
PLACEMENT = (0, MAP_FIXED, MAP_FIXED_NOREPLACE)


def draw_step(data, model: VmModel) -> tuple:
    """One operation, drawn with the model's state in view (reads and
    writes only where they are allowed: a fault ends the process)."""
    page = st.integers(0, WINDOW - 1)
    npages = st.integers(1, 4)
    kinds = ["mmap", "mmap", "munmap", "mprotect"]
    readable = [va for va, (prot, _) in model.pages.items() if prot != PROT_NONE]
    writable = [va for va in model.pages if model.writable(va)]
    kinds += ["read"] * bool(readable) + ["write"] * 2 * bool(writable)
    op = data.draw(st.sampled_from(kinds))
    if op == "mmap":
        placement = data.draw(st.sampled_from(PLACEMENT))
        hinted = placement or data.draw(st.booleans())
        addr = BASE + data.draw(page) * PAGE if hinted else 0
        flags = data.draw(st.sampled_from(KINDS)) | placement | 0x20  # MAP_ANONYMOUS
        return op, addr, data.draw(npages), data.draw(st.integers(0, 7)), flags
    if op in ("munmap", "mprotect"):
        first = data.draw(page)
        n = data.draw(st.integers(1, WINDOW - first))
        return op, BASE + first * PAGE, n, data.draw(st.integers(0, 7)), 0
    va = data.draw(st.sampled_from(sorted(writable if op == "write" else readable)))
    offset = data.draw(st.integers(0, PAGE // 4 - 1)) * 4
    return op, va + offset, 0, 0, data.draw(st.integers(0, 0x7FFFFFFF))


def apply(vm: VmDriver, model: VmModel, step: tuple) -> None:
    op, addr, n, prot, extra = step
    if op == "mmap":
        expected, got = model.mmap(addr, n, prot, extra), vm.do("mmap", addr, n * PAGE, prot, extra)
    elif op == "munmap":
        expected, got = model.munmap(addr, n), vm.do("munmap", addr, n * PAGE)
    elif op == "mprotect":
        expected, got = model.mprotect(addr, n, prot), vm.do("mprotect", addr, n * PAGE, prot)
    elif op == "write":
        model.write(addr, extra)
        expected, got = 0, vm.do("write", addr, value=extra)
    else:
        expected, got = model.read(addr), vm.do("read", addr)
    assert got == expected, f"{step}: the kernel returned {got}, the model {expected}"


def compare(vm: VmDriver, model: VmModel, step: tuple, start: dict) -> None:
    assert vm.regions() == model.regions(), f"region list after {step}"
    p = vm.process()
    assert p["pages"] - start["pages"] == len(model.contents), f"resident pages after {step}"
    assert p["reserved_pages"] - start["reserved_pages"] == len(model.pages), \
        f"reserved pages after {step}"
    ptes = vm.ptes(BASE, BASE + CHECKED)
    guarded = {va for va in model.contents if model.pages[va][0] == PROT_NONE}
    assert sorted(ptes) == sorted(set(model.contents) - guarded), f"present pages after {step}"
    assert sorted(vm.protnone(BASE, BASE + CHECKED)) == sorted(guarded), \
        f"PROT_NONE pages kept after {step}"
    for va, (_, bits) in ptes.items():
        assert bool(bits & WRITE_BIT) == model.writable(va), f"{va:#x}'s write bit after {step}"
        assert vm.read_page(va) == model.contents[va], f"contents of {va:#x} after {step}"


@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_regions_and_contents_follow_the_model(userland, data):
    vm = VmDriver(userland)
    start = vm.process()
    model = VmModel(mmap_base=start["mmap_base"])
    try:
        for _ in range(data.draw(st.integers(8, 16))):
            step = draw_step(data, model)
            apply(vm, model, step)
            compare(vm, model, step, start)
    finally:
        vm.finish()
    assert not vm.ended.killed
