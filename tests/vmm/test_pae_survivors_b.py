"""What the mutation run of the PAE change (issue 16) left alive in vmm.c's
map/unmap/lookup/protect, pinned in both paging modes (the matrix):

- a refusal's VMM record names every argument in its own field (va, pa,
  flags, caller: a swapped pair or a stray 1 reads as a different call);
- an entry with P clear maps nothing, whatever its other bits say (the CPU
  ignores them; an OS may keep a swap slot there): map builds a table under
  such a directory entry, lookup and protect and unmap find no page there;
- lookup inside a large page (4 MiB legacy, 2 MiB PAE) keeps the page offset
  to the frame and drops the entry's PAT bit (bit 12) from the frame.

The kernel maps 4 KiB pages only and clears entries to 0, so the odd entries
are written here through GDB into a directory of the test's own (or the
live one's unused user half) and put back before the end."""

from harness.decode.paging import PRESENT, PS, USER, WRITE
from tests.expected import KERNEL_BASE, PAGE_EXEC

VA = 0x40000000
ENOENT, EEXIST, EINVAL = -2, -17, -22
PAT_LARGE = 0x1000  # bit 12 of a large-page directory entry: PAT, not a frame bit


def refusal(machine, kernel, call, *args, rc):
    """Calls a refused VMM function; its one VMM record as a dict of ints
    (error and op as text), checked against the stats' last caller."""
    mark = machine.mark()
    assert machine.call(call, *args) == rc
    records = machine.records("VMM", since=mark)
    assert len(records) == 1
    r = records[0]
    caller = r.int("caller")
    assert kernel.read_struct("vmm_stats", "vmm_stats")["last_error_caller"] == caller
    assert caller >= KERNEL_BASE, "a return address in kernel text"
    return {"error": r["error"], "op": r["op"], "va": r.int("va"), "pa": r.int("pa"),
            "flags": r.int("flags")}


def test_a_map_with_bad_flags_names_pa_and_flags_each_in_its_field(machine, kernel):
    frame = machine.call("allocate_page")
    assert refusal(machine, kernel, "map_page", 0xF0000000, frame, PRESENT | USER,
                   rc=EINVAL) == {"error": "user-in-kernel-space", "op": "map",
                                  "va": 0xF0000000, "pa": frame, "flags": PRESENT | USER}


def test_a_map_over_a_mapping_names_va_pa_and_flags_each_in_its_field(machine, kernel):
    a, b = machine.call("allocate_page"), machine.call("allocate_page")
    assert machine.call("map_page", VA, a, PRESENT | WRITE) == 0
    assert refusal(machine, kernel, "map_page", VA, b, PRESENT, rc=EEXIST) == {
        "error": "exists", "op": "map", "va": VA, "pa": b, "flags": PRESENT}


def test_an_unaligned_unmap_is_refused_as_unaligned(machine, kernel):
    assert refusal(machine, kernel, "unmap_page", VA + 1, rc=EINVAL) == {
        "error": "unaligned", "op": "unmap", "va": VA + 1, "pa": 0, "flags": 0}


def test_an_unmap_of_nothing_names_no_frame_and_no_flags(machine, kernel):
    assert refusal(machine, kernel, "unmap_page", VA, rc=ENOENT) == {
        "error": "not-mapped", "op": "unmap", "va": VA, "pa": 0, "flags": 0}


def test_an_unaligned_protect_is_refused_as_unaligned(machine, kernel):
    kd = kernel.kernel_directory()
    assert refusal(machine, kernel, "vmm_protect", kd, VA + 1, PRESENT | WRITE, rc=EINVAL) == {
        "error": "unaligned", "op": "protect", "va": VA + 1, "pa": 0, "flags": PRESENT | WRITE}


def test_a_protect_with_bad_flags_names_no_frame(machine, kernel):
    kd = kernel.kernel_directory()
    assert refusal(machine, kernel, "vmm_protect", kd, VA, PRESENT | 0x80, rc=EINVAL) == {
        "error": "bad-flags", "op": "protect", "va": VA, "pa": 0, "flags": PRESENT | 0x80}


# -- entries written here ------------------------------------------------------


def pde_slot(machine, directory, va, paging):
    """(physical address, width) of va's directory entry in directory (a
    kernel virtual address: a legacy page directory or a PAE PDPT)."""
    root = directory - KERNEL_BASE
    if paging == "pae":
        pdpte = int.from_bytes(machine.read_phys(root + (va >> 30) * 8, 8), "little")
        return (pdpte & 0xFFFFF000) + ((va >> 21) & 511) * 8, 8
    return root + (va >> 22) * 4, 4


def write_pde(machine, directory, va, paging, value):
    address, width = pde_slot(machine, directory, va, paging)
    machine.write_phys(address, value.to_bytes(width, "little"))


def test_lookup_inside_a_large_page_keeps_the_page_and_drops_pat(machine, kernel, paging):
    """va 4 MiB + 0x113000 (an odd page) in a large page at 8 MiB whose entry
    has PAT set: the frame is 8 MiB + 0x113000, PAT is no frame bit."""
    d = machine.call("create_page_directory")
    base = 0x00400000  # 4 MiB: a large page's start in both modes
    write_pde(machine, d, base, paging, 0x00800000 | PAT_LARGE | PS | WRITE | PRESENT)
    try:
        flags = PS | WRITE | PRESENT | PAGE_EXEC  # no NX bit: executable in both modes
        assert kernel.lookup(d, base + 0x113000) == (0x00913000, flags)
        assert kernel.lookup(d, base) == (0x00800000, flags)
        assert kernel.lookup(d, base + 0x1FF000) == (0x009FF000, flags)
    finally:
        write_pde(machine, d, base, paging, 0)  # destroy would take it for a table
    machine.call("destroy_page_directory", d)


def test_lookup_finds_nothing_under_a_large_page_entry_without_present(machine, kernel, paging):
    d = machine.call("create_page_directory")
    base = 0x00400000
    write_pde(machine, d, base, paging, 0x00800000 | PS | WRITE)  # P clear
    try:
        assert kernel.lookup(d, base + 0x113000) is None
        assert kernel.lookup(d, base) is None
    finally:
        write_pde(machine, d, base, paging, 0)
    machine.call("destroy_page_directory", d)


def test_map_under_a_not_present_directory_entry_makes_a_new_table(machine, kernel, paging):
    """The stale directory entry names a frame with P clear: map must not take
    that frame for a page table (it would write a PTE into it)."""
    d = machine.call("create_page_directory")
    stale, frame = machine.call("allocate_page"), machine.call("allocate_page")
    machine.write_phys(stale, bytes(range(256)) * 16)
    write_pde(machine, d, VA, paging, stale | WRITE | USER)  # P clear
    tables = kernel.read_struct("vmm_stats", "vmm_stats")["user_page_tables"]
    assert machine.call("vmm_map", d, VA, frame, PRESENT | WRITE | USER) == 0
    assert kernel.read_struct("vmm_stats", "vmm_stats")["user_page_tables"] == tables + 1
    t = machine.address_space(d - KERNEL_BASE).translate(VA)
    assert t.pa == frame
    assert t.pde.frame != stale and t.pde.present
    assert machine.read_phys(stale, 4096) == bytes(range(256)) * 16, "the stale frame untouched"
    machine.call("destroy_page_directory", d)
    machine.call("free_page", stale)


def test_a_not_present_page_entry_with_other_bits_is_no_page(machine, kernel):
    """lookup, protect and unmap all see no page behind a PTE with P clear
    and a frame and rights in its other bits."""
    kd = kernel.kernel_directory()
    other = machine.call("allocate_page")
    assert machine.call("map_page", VA, other, PRESENT) == 0  # makes the page table
    assert machine.call("unmap_page", VA) == 0
    machine.write_pte(VA, other | WRITE | USER)  # not present
    assert kernel.lookup(kd, VA) is None
    assert refusal(machine, kernel, "vmm_protect", kd, VA, PRESENT, rc=ENOENT) == {
        "error": "not-mapped", "op": "protect", "va": VA, "pa": 0, "flags": PRESENT}
    assert machine.read_phys(machine.pte_address(VA), 4) == (other | WRITE | USER).to_bytes(
        4, "little"), "protect left it alone"
    assert refusal(machine, kernel, "unmap_page", VA, rc=ENOENT)["error"] == "not-mapped"
    machine.write_pte(VA, 0)
