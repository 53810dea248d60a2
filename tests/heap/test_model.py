"""A hypothesis state machine drives kmalloc, kcalloc, kmalloc_aligned,
krealloc and kfree through GDB against a Python model: results aligned,
never overlapping, inside the heap; contents written by the harness survive
until freed (and across krealloc); statistics exact, per class too (each
block's class from the size-class rule, checked in its slab's header);
krealloc keeps a block in place exactly when the rule says it fits;
heap_check clean after every step.

Random sizes rarely land on a size-class boundary or fill a slab, where the
slab allocator changes course, so the sizes include each class's largest
request and one byte more (from the class table in the kernel), sizes at page
boundaries of the large region, and a rule fills the slabs of a large class
until it takes another; the test fails if a run did not reach every one."""

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)

from harness.pytest_plugin import machine_config
from harness.targets.mmverify.constants import firmware_constants
from harness.targets.mmverify.kernel import Kernel
from tests.heap.rules import (
    HEADER,
    HEAP_SMALL_MAX,
    RED_ZONE,
    class_for,
    largest_sizes,
    realloc_stays,
)

HEAP_BASE, HEAP_LIMIT = 0xF0000000, 0xFF000000
RANDOM_SIZES = st.one_of(st.integers(1, 64), st.integers(65, 2048), st.integers(2049, 20000))
BOUNDARIES = {"a block of a class's largest size", "a block one byte over a class's largest size",
              "a slab filled up"}

# Shrinking a failure replays it hundreds of times through GDB, each on a
# fresh machine: minutes, during which a -x run (a mutant killed) cannot end.
# The failing steps are reported unshrunk (at most stateful_step_count).
NO_SHRINKING = (Phase.explicit, Phase.reuse, Phase.generate)


def boundary_sizes(capacities: list[int]) -> list[int]:
    """Each class's largest request and one byte more (the next class, or the
    large region), and sizes whose block with its header and red zone ends
    just before, at and just after a page boundary."""
    pages = [k * 4096 - HEADER - RED_ZONE + d for k in range(1, 6) for d in (-1, 0, 1)]
    return sorted({n + d for n in largest_sizes(capacities) for d in (0, 1)} | set(pages))


@pytest.mark.machine(memory="64M")
def test_heap_against_a_model(request, firmware, machine_pool):
    cfg = machine_config(request, firmware)
    kernel = Kernel(machine_pool.acquire(cfg))
    capacities = [c for c in kernel.heap_stats()["class_size"] if c]
    classes = kernel.read_array("slab_class", kernel.m.symbol("slab_classes"), len(capacities))
    largest = largest_sizes(capacities)
    few_per_slab = [i for i, c in enumerate(classes) if c["slot_count"] <= 16]
    sizes = st.one_of(RANDOM_SIZES, st.sampled_from(boundary_sizes(capacities)))
    const = firmware_constants(firmware.kernel)
    large_overhead = kernel.sizeof("struct tag") + HEADER  # the tag, then the block header
    reached: set[str] = set()

    class HeapModel(RuleBasedStateMachine):
        blocks = Bundle("blocks")

        @initialize()
        def setup(self):
            self.m = machine_pool.acquire(cfg)
            self.k = Kernel(self.m)
            self.live: dict[int, bytes] = {}  # address -> contents the harness wrote
            self.cls: dict[int, int | None] = {}  # address -> its slab class, None: large
            self.counter = 0
            stats = self.k.heap_stats()
            self.base_requested, self.base_live = stats["bytes_requested"], stats["live_blocks"]
            self.base_class_live = stats["class_live"]

        def adopt(self, p, size, cls, align=16, zeroed=False):
            """Takes a block the kernel returned, which must be in slab class
            ``cls`` (None: the large region), judged from the slab's header."""
            assert p != 0, "out of memory in a 64 MiB machine"
            if cls is None:
                assert p >= const["LARGE_BASE"], f"{size} bytes: a large block"
            else:
                slab = p & ~(const["SLAB_CHUNK"] - 1)
                header = self.k.read_struct("slab", slab)
                assert header["magic"] == const["SLAB_MAGIC"] ^ slab, f"{p:#x}: not in a slab"
                assert header["class_index"] == cls, f"{size} bytes: class {cls}"
            self.cls[p] = cls
            assert HEAP_BASE <= p < HEAP_LIMIT and p + size <= HEAP_LIMIT
            assert p % (align if size >= 16 or align > 16 else 8) == 0
            for q, data in self.live.items():
                assert p + size <= q or q + len(data) <= p, "overlaps a live block"
            if zeroed:
                assert self.m.read(p, size) == bytes(size)
            if size in largest:
                reached.add("a block of a class's largest size")
            if size - 1 in largest:
                reached.add("a block one byte over a class's largest size")
            self.counter += 1
            data = bytes((self.counter + i) & 0xFF for i in range(size))
            self.m.write(p, data)
            self.live[p] = data
            return p

        @rule(target=blocks, size=sizes)
        def kmalloc(self, size):
            return self.adopt(self.m.call("kmalloc", size), size, class_for(capacities, size))

        @rule(target=blocks, c=st.sampled_from(few_per_slab))
        def fill_a_slab(self, c):
            """One more block of class c than its slabs have free slots: they
            fill up and the class takes another slab."""
            size = largest[c]
            stats = self.k.heap_stats()
            slabs, live = stats["class_slabs"][c], stats["class_live"][c]
            blocks = [self.adopt(self.m.call("kmalloc", size), size, c)
                      for _ in range(slabs * classes[c]["slot_count"] - live + 1)]
            assert self.k.heap_stats()["class_slabs"][c] == slabs + 1
            reached.add("a slab filled up")
            return multiple(*blocks)

        @rule(target=blocks, n=st.integers(1, 16), size=st.integers(1, 512))
        def kcalloc(self, n, size):
            return self.adopt(self.m.call("kcalloc", n, size), n * size,
                              class_for(capacities, n * size), zeroed=True)

        @rule(target=blocks, size=st.integers(1, 9000))
        def kmalloc_aligned(self, size):
            return self.adopt(self.m.call("kmalloc_aligned", size), size, None, align=4096)

        @rule(target=blocks, p=consumes(blocks), size=sizes)
        def krealloc(self, p, size):
            old, cls = self.live.pop(p), self.cls.pop(p)
            if cls is None:  # a large block holds what its boundary tag's size leaves
                tag = int.from_bytes(self.m.read(p - large_overhead, 4), "little")
                stays = size <= (tag & ~const["LARGE_TAG_FLAGS"]) - large_overhead - RED_ZONE
            else:
                stays = realloc_stays(capacities[cls], size)
            q = self.m.call("krealloc", p, size)
            keep = min(len(old), size)
            assert self.m.read(q, keep) == old[:keep], "contents kept up to the smaller size"
            if stays:
                assert q == p, "it fits where it is: krealloc keeps it there"
                return self.adopt(q, size, cls)
            if cls is None and size > HEAP_SMALL_MAX:
                return self.adopt(q, size, None)  # grown in place or moved: large either way
            return self.adopt(q, size, class_for(capacities, size))

        @rule(p=consumes(blocks))
        def kfree(self, p):
            del self.live[p], self.cls[p]
            self.m.call("kfree", p)

        @invariant()
        def heap_matches_model(self):
            if not hasattr(self, "m"):
                return
            for p, data in self.live.items():
                assert self.m.read(p, len(data)) == data, f"block {p:#x} changed"
            assert self.m.call("heap_check") == 0
            stats = self.k.heap_stats()
            assert stats["bytes_requested"] - self.base_requested == sum(
                len(d) for d in self.live.values())
            assert stats["live_blocks"] - self.base_live == len(self.live)
            for i, base in enumerate(self.base_class_live[:len(capacities)]):
                assert stats["class_live"][i] - base == list(self.cls.values()).count(i), (
                    f"live blocks of class {i}")
            assert sum(self.k.heap_error_counts().values()) == 0

    HeapModel.TestCase.settings = settings(
        max_examples=15, stateful_step_count=30, deadline=None,
        phases=NO_SHRINKING,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    HeapModel.TestCase().runTest()
    assert reached == BOUNDARIES, f"the strategies never reached {BOUNDARIES - reached}"
