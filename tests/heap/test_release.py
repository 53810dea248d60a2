"""Memory goes back to the PMM: emptied slabs beyond the one each class
keeps, and the interior pages of large free ranges."""

PAGE = 4096


def test_empty_slabs_beyond_one_per_class_are_released(machine, kernel):
    free_before = kernel.pmm_stats()["free_frames"]
    blocks = [machine.call("kmalloc", 500) for _ in range(200)]  # ~7 slabs of 16 KiB
    slabs = kernel.heap_stats()["class_slabs"]
    assert max(slabs) >= 5
    for p in blocks:
        machine.call("kfree", p)
    stats = kernel.heap_stats()
    assert max(stats["class_slabs"]) == 1, "one empty slab is kept"
    assert kernel.pmm_stats()["free_frames"] >= free_before - 4, "the rest went back"


def test_a_large_free_range_gives_its_interior_pages_back(machine, kernel):
    a = machine.call("kmalloc", 100_000)
    b = machine.call("kmalloc", 100_000)
    c = machine.call("kmalloc", 100_000)  # keeps b away from the top of the region
    assert machine.translate(b + 50_000).pa is not None
    mapped = kernel.heap_stats()["bytes_mapped"]
    machine.call("kfree", b)
    inside = [b + off for off in range(PAGE, 100_000 - PAGE, PAGE)]
    assert all(machine.translate(va).pa is None for va in inside[1:-1])
    assert kernel.heap_stats()["bytes_mapped"] <= mapped - 20 * PAGE
    assert machine.call("kmalloc", 90_000) == b, "and maps them again when reused"
    machine.write(b + 50_000, b"ok")
    for p in (a, c):
        machine.call("kfree", p)


def test_the_kept_slab_stays_kept_however_often_it_empties(machine, kernel):
    """One block of a class with no slab yet, freed and allocated again three
    times: the same slab serves every round (the same block comes back) and
    stays mapped between them, kept, not released and remade each time."""
    size = 1500
    first = machine.call("kmalloc", size)
    slabs = kernel.heap_stats()["class_slabs"]
    for _ in range(3):
        machine.call("kfree", first)
        assert kernel.heap_stats()["class_slabs"] == slabs, "the empty slab is kept"
        assert machine.translate(first).pa is not None, "and stays mapped"
        assert machine.call("kmalloc", size) == first
    machine.call("kfree", first)
