"""Model-based: random sequences of mmap, munmap, mprotect, writes, reads,
forks and a child's exit through vmdriver, against tests/process/vm_model.py
(one model per process).  Each step picks one of the live processes.  After
every step, for every live process, the result (address or errno), the whole
region list (from the process table), the set of present pages with their
write bit (from the walker), every resident page's contents (guest RAM,
through the process's page tables) and the process's resident and reserved
page counts must equal its model's; and over all of them, pages the models
share map one frame, pages they do not share distinct frames, and each
frame's reference count is the number of models holding it.  After a fork
or an exit the host-side audit (invariants.py) runs as well.

Operations stay in a 16-page window at the mmap area's base (aslr=off), so
they collide often: fixed maps over others, splits and merges, holes that
kernel-chosen addresses fill.  Few examples, derandomised: each spawns one
vmdriver on the same booted machine."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.targets.mmverify.invariants import violations
from tests.process.vm_model import Page, VmModel
from tests.process.vmdriver import (
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MAP_SHARED,
    MMAP_AREA,
    PAGE,
    PROT_NONE,
    VmDriver,
    from_ready,
)

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

BASE = MMAP_AREA[0]
WINDOW = 16                 # pages the operations aim at
CHECKED = 64 * PAGE         # where pages are compared (kernel-chosen ones may lie above)
WRITE_BIT = 0x2
KINDS = (MAP_PRIVATE, MAP_SHARED)
PLACEMENT = (0, MAP_FIXED, MAP_FIXED_NOREPLACE)
PROCESSES = 3               # at most, live at once


def draw_step(data, model: VmModel, forks: bool = False, exits: bool = False) -> tuple:
    """One operation, drawn with the model's state in view (reads and
    writes only where they are allowed: a fault ends the process); a fork
    when ``forks``, this process's exit when ``exits``."""
    page = st.integers(0, WINDOW - 1)
    npages = st.integers(1, 4)
    kinds = ["mmap", "mmap", "munmap", "mprotect"] + ["fork"] * forks + ["exit"] * exits
    readable = [va for va, (prot, _) in model.pages.items() if prot != PROT_NONE]
    writable = [va for va in model.pages if model.writable(va)]
    shared_cow = [va for va in writable if va in model.cow]  # a write copies or takes back
    kinds += ["read"] * bool(readable) + ["write"] * 2 * bool(writable)
    kinds += ["cow-write"] * 3 * bool(shared_cow)
    op = data.draw(st.sampled_from(kinds))
    if op == "cow-write":
        op, writable = "write", shared_cow
    if op in ("fork", "exit"):
        return op, 0, 0, 0, 0
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


def compare(vm: VmDriver, model: VmModel, step: tuple, start: dict,
            frames: dict[Page, int]) -> None:
    """One process against its model; each resident page's frame goes into
    ``frames`` (model Page -> frame), which a Page keeps as long as it lives:
    every holder maps it there, and a write that takes a page back (the
    model keeps its Page) leaves it in place."""
    who = f"pid {vm.pid} after {step}"
    assert vm.regions() == model.regions(), f"region list of {who}"
    p = vm.process()
    assert p["pages"] - start["pages"] == len(model.contents), f"resident pages of {who}"
    assert p["reserved_pages"] - start["reserved_pages"] == len(model.pages), \
        f"reserved pages of {who}"
    ptes = vm.ptes(BASE, BASE + CHECKED)
    guarded = {va for va in model.contents if model.pages[va][0] == PROT_NONE}
    assert sorted(ptes) == sorted(set(model.contents) - guarded), f"present pages of {who}"
    kept = vm.protnone(BASE, BASE + CHECKED)
    assert sorted(kept) == sorted(guarded), f"PROT_NONE pages kept, {who}"
    for va, (_, bits) in ptes.items():
        assert bool(bits & WRITE_BIT) == model.pte_writable(va), f"{va:#x}'s write bit, {who}"
        assert vm.read_page(va) == model.contents[va].data, f"contents of {va:#x}, {who}"
    for va, (pa, _) in {**ptes, **kept}.items():
        seen = frames.setdefault(model.contents[va], pa)
        assert seen == pa, f"{va:#x} of {who}: frame {pa:#x}, where this page was {seen:#x}"


def sharing(vm: VmDriver, frames: dict[Page, int], step: tuple) -> None:
    """Pages the models hold apart are distinct frames, and each frame's
    reference count is the number of processes whose model holds it (pages
    no model holds any more are forgotten)."""
    for page in [page for page in frames if page.refs == 0]:
        del frames[page]
    pas = list(frames.values())
    assert len(set(pas)) == len(pas), f"pages the models keep apart share a frame after {step}"
    for page, pa in frames.items():
        assert vm.frame_refs(pa)[0] == page.refs, f"references of frame {pa:#x} after {step}"


@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_regions_and_contents_follow_the_model(userland, kernel, data):
    from_ready(userland)
    root = VmDriver(userland)
    start = root.process()
    procs = [(root, VmModel(mmap_base=start["mmap_base"]))]
    frames: dict[Page, int] = {}
    try:
        for _ in range(data.draw(st.integers(8, 20))):
            i = data.draw(st.integers(0, len(procs) - 1))
            vm, model = procs[i]
            step = draw_step(data, model, forks=len(procs) < PROCESSES, exits=i > 0)
            if step[0] == "fork":
                procs.append((vm.fork(), model.fork()))
            elif step[0] == "exit":
                assert not vm.finish().killed
                model.exit()
                procs.pop(i)
            else:
                apply(vm, model, step)
            for d, m in procs:  # a child inherits its parent's pages outside the window
                compare(d, m, step, start, frames)
            sharing(root, frames, step)
            if step[0] in ("fork", "exit"):
                assert violations(kernel) == [], f"the audit after {step}"
    finally:
        root.finish_all()
    assert not root.ended.killed
