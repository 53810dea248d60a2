"""mmap with the machine out of frames: a shared mapping that cannot get all
its frames is ENOMEM and leaves the process as it was; a demand fault in a
private region with no frame left kills with reason out-of-memory.  A 16 MiB
machine, emptied by shared mappings of halving sizes (the limits allow more
pages than it has)."""

import pytest

from tests.process.vmdriver import ENOMEM, PAGE, PRIVATE, RW, SHARED, ProcessEnded, VmDriver

pytestmark = pytest.mark.machine(modules=["user/vmdriver"], cmdline="aslr=off", memory="16M")


def test_shared_mmap_without_frames_changes_nothing_then_a_fault_is_out_of_memory(userland):
    vm = VmDriver(userland)
    refused = 0
    chunk = 1024
    while chunk:
        regions, ptes, free, limits, pages, reserved, brk = vm.state()
        got = vm.do("mmap", 0, chunk * PAGE, RW, SHARED)
        if got < 0:
            assert got == -ENOMEM
            after = vm.state()
            assert after[:2] == (regions, ptes) and after[3:] == (limits, pages, reserved, brk)
            # the frames it took went back; page tables made for it (a 1024-page
            # range spans up to 3) and a kernel heap page for its list may stay
            assert free - after[2] <= 4
            refused += 1
            chunk //= 2
    assert refused == 11, "refused at every size down to one page"
    a = vm.do("mmap", 0, PAGE, RW, PRIVATE)
    assert a > 0, "a private mapping needs no frame yet"
    with pytest.raises(ProcessEnded) as ended:
        vm.do("write", a, value=1)
    assert (ended.value.result.reason, ended.value.result.addr) == ("out-of-memory", a)
