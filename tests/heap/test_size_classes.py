"""Every slab class at its limit, judged from outside through the slab
structures in guest RAM: the largest request that fits with its red zone
gets the class, one byte more gets the next class (the large region after the
last), at exactly the slot the allocator's rule predicts (the first free
slot of the class's first slab with free slots, or slot 0 of a new slab in
the lowest free chunk), with every counter exact; writing up to the end of
the block keeps heap_check clean, one byte more is caught."""

from harness.targets.mmverify.constants import firmware_constants
from harness.targets.mmverify.kernel import Kernel
from tests.heap.rules import HEADER, RED_ZONE, largest_sizes

EINVAL = 22


class Slabs:
    """The slab allocator's state, read from guest RAM."""

    def __init__(self, kernel: Kernel, firmware) -> None:
        self.k, self.m = kernel, kernel.m
        const = firmware_constants(firmware.kernel)
        self.base, self.chunk = const["SLAB_BASE"], const["SLAB_CHUNK"]
        self.magic, self.large_base = const["SLAB_MAGIC"], const["LARGE_BASE"]
        self.live_canary = const["CANARY_LIVE"]
        self.capacities = [c for c in kernel.heap_stats()["class_size"] if c]
        self.slab_size = kernel.sizeof("struct slab")

    def classes(self) -> list[dict]:
        return self.k.read_array("slab_class", self.m.symbol("slab_classes"),
                                 len(self.capacities))

    def next_slot(self, i: int) -> tuple[int, bool]:
        """Where class i's next block goes, and whether it takes a new slab."""
        partial = self.classes()[i]["partial"]
        if partial:
            return self.k.read_struct("slab", partial)["free"] + HEADER, False
        used = self.m.symbol("slab_chunk_used")
        words = self.k.sizeof("slab_chunk_used") // 4
        bits = int.from_bytes(self.k.read_kernel(used, 4 * words), "little")
        chunk = (~bits & (bits + 1)).bit_length() - 1  # the lowest clear bit
        return self.base + chunk * self.chunk + self.slab_size + HEADER, True

    def slot_of(self, p: int) -> tuple[int, dict]:
        """The class index of the slab holding block p, and the slab, after
        checking p is the payload of one of its slots."""
        slab_addr = p & ~(self.chunk - 1)
        slab = self.k.read_struct("slab", slab_addr)
        assert slab["magic"] == self.magic ^ slab_addr, f"{p:#x} is not in a live slab"
        cls = self.classes()[slab["class_index"]]
        offset = p - HEADER - slab_addr - self.slab_size
        assert offset % cls["slot_size"] == 0 and offset // cls["slot_size"] < slab["slot_count"]
        return slab["class_index"], cls


def allocate_exactly(slabs: Slabs, kernel, size: int, i: int) -> int:
    """kmalloc(size), which must land in class i at the predicted slot, its
    block and red zone inside the slot, every counter moved exactly."""
    m = kernel.m
    expected, new_slab = slabs.next_slot(i)
    before = kernel.heap_stats()
    free_frames = kernel.pmm_stats()["free_frames"]
    p = m.call("kmalloc", size)
    assert p == expected, f"kmalloc({size}): class {i}'s next free slot"
    index, cls = slabs.slot_of(p)
    assert index == i, f"kmalloc({size}) went to class {index}, not {i}"
    header = m.read(p - HEADER, 8)
    assert int.from_bytes(header[:4], "little") == slabs.live_canary ^ p
    assert int.from_bytes(header[4:], "little") == size
    assert size + RED_ZONE <= cls["capacity"], "the red zone is inside the slot"
    assert m.read(p + size, RED_ZONE) == b"\xfd" * RED_ZONE
    after = kernel.heap_stats()
    assert after["class_live"][i] == before["class_live"][i] + 1
    assert after["class_slabs"][i] == before["class_slabs"][i] + new_slab
    assert after["live_blocks"] == before["live_blocks"] + 1
    assert after["bytes_requested"] == before["bytes_requested"] + size
    assert after["bytes_in_use"] == before["bytes_in_use"] + cls["slot_size"]
    assert after["bytes_mapped"] == before["bytes_mapped"] + new_slab * cls["slab_bytes"]
    assert kernel.pmm_stats()["free_frames"] == free_frames - new_slab * cls["slab_bytes"] // 4096
    return p


def test_each_class_takes_its_largest_request_and_one_byte_more_goes_up(machine, kernel,
                                                                        firmware):
    slabs = Slabs(kernel, firmware)
    largest = largest_sizes(slabs.capacities)
    for i, size in enumerate(largest):
        p = allocate_exactly(slabs, kernel, size, i)
        if i + 1 < len(largest):
            q = allocate_exactly(slabs, kernel, size + 1, i + 1)
        else:
            q = machine.call("kmalloc", size + 1)
            assert q >= slabs.large_base, f"{size + 1} bytes: past the slabs, the large region"
        machine.call("kfree", p)
        assert machine.call("kmalloc", size) == p, "the slot just freed is the next one taken"
        for block in (p, q):
            machine.call("kfree", block)


def test_writing_to_the_end_of_a_block_is_clean_and_one_byte_past_is_caught(machine, kernel,
                                                                            firmware):
    slabs = Slabs(kernel, firmware)
    for i, size in enumerate(largest_sizes(slabs.capacities)):
        p = allocate_exactly(slabs, kernel, size, i)
        machine.write(p, bytes((i + j) & 0xFF for j in range(size)))
        assert machine.call("heap_check") == 0, f"{size} bytes written to a {size}-byte block"
        machine.write(p + size, b"\x00")
        mark = machine.mark()
        assert machine.call("heap_check") == -EINVAL
        check = machine.records("HEAP", since=mark)
        assert [(r["check"], r["what"], r.int("addr")) for r in check] == \
            [("fail", "red-zone", p)]
        mark = machine.mark()
        machine.call("kfree", p)
        assert [(r["error"], r.int("addr"), r.int("size"))
                for r in machine.records("HEAP", since=mark)] == [("red-zone", p, size)]
        assert machine.call("heap_check") == 0, "the block is quarantined"
    assert kernel.heap_stats()["quarantined"] == len(slabs.capacities)
