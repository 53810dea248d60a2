"""Values the tests expect of the firmware, written down here on purpose and
not read from it: an expectation taken from the code under test could not
catch that code changing.  (The harness itself reads the firmware's constants
from kernel.elf: harness.targets.mmverify.constants.)"""

KERNEL_BASE = 0xC0000000  # the start of the kernel half and of the direct map

# The VMM's software flag for executable mappings (include/mm/vmm.h): never
# stored in an entry; vmm_lookup reports it whenever the page can execute.
PAGE_EXEC = 0x400
NX = 1 << 63  # PAE entries: execute-disable, with EFER.NXE


def lookup_exec(kernel) -> int:
    """What vmm_lookup adds to a mapping made without PAGE_EXEC: PAGE_EXEC
    unless NX is on (legacy paging, or PAE on a CPU without NX, executes
    every mapped page)."""
    return 0 if kernel.nx_enabled() else PAGE_EXEC


def entry_nx(kernel) -> int:
    """The NX bit the VMM sets in an entry mapped without PAGE_EXEC."""
    return NX if kernel.nx_enabled() else 0


def kernel_mapping_reaches_every(machine, dirs) -> None:
    """A kernel mapping made once (map_page at the kernel heap's start) is seen
    through every directory in ``dirs``, then taken down again."""
    frame = machine.call("allocate_page")
    heap_va = 0xF0000000
    assert machine.call("map_page", heap_va, frame, 0x3) == 0  # present, writable
    for d in dirs:
        assert machine.address_space(d - KERNEL_BASE).translate(heap_va).pa == frame
    machine.call("unmap_page", heap_va)
    machine.call("free_page", frame)
