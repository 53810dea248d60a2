"""The PMM's buddy lists as pure logic (firmware/mm/buddy.c, pmm.c): what
every allocation returns and what every list holds afterwards, predicted.

State: the free frames below 4 GiB (a bit mask), the reserved ones, the
zone of each frame, and one list per zone and order, head first, exactly as
the kernel links them.  Each operation follows the kernel's rule:

- taking a frame (allocate_page: the lowest free frame) removes the block
  holding it and pushes back the halves without it, largest first;
- a block request tries the zones in order, each from the requested order
  up, takes the head of the first non-empty list and pushes back the upper
  halves, largest first;
- allocate_pages(n) takes a block of the next power of two below the
  direct-map limit (else up to 4 GiB), keeps n frames and gives back the
  tail as the largest aligned blocks, lowest first;
- giving a block merges it with its buddy while that is a free head of the
  same order in the same zone, then pushes the result on its list's head.

No QEMU here: tests/unit/test_buddy_model.py checks the model alone, and
tests/pmm/test_buddy*.py compare it with the kernel step by step."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

MAX_ORDER = 10
ZONES = 16
DIRECT_MAP_PFN = 0x30000000 >> 12


def zone_by_node(nodes: Callable[[int], int] | None = None) -> Callable[[int], int]:
    """The kernel's zone of a frame: node * 2 + (frame >= the direct-map limit)."""
    return lambda pfn: (nodes(pfn) if nodes else 0) * 2 + (pfn >= DIRECT_MAP_PFN)


@dataclass
class BuddyModel:
    frames: int                       # frames the lists cover (below 4 GiB)
    zone_of: Callable[[int], int]
    free: int = 0                     # bit f set: frame f is free
    reserved: int = 0                 # bit f set: frame f can never be freed
    lists: list[list[list[int]]] = field(default_factory=list)  # [zone][order] -> heads
    node_count: int = 1

    def __post_init__(self) -> None:
        if not self.lists:
            self.lists = [[[] for _ in range(MAX_ORDER + 1)] for _ in range(ZONES)]
        self.order_of: dict[int, int] = {}  # free block head -> its order
        for zone in self.lists:
            for order, heads in enumerate(zone):
                for h in heads:
                    self.order_of[h] = order

    # -- building ---------------------------------------------------------------

    @classmethod
    def from_free(cls, frames: int, zone_of: Callable[[int], int], free: int, reserved: int = 0,
                  node_count: int = 1) -> BuddyModel:
        """The lists buddy_rebuild makes from a bitmap: each run of free
        frames in one zone cut into the largest aligned blocks, each list in
        address order."""
        m = cls(frames, zone_of, free & ((1 << frames) - 1), reserved, node_count=node_count)
        m.rebuild()
        return m

    def rebuild(self) -> None:
        """The lists from the bitmap alone (buddy_rebuild)."""
        self.lists = [[[] for _ in range(MAX_ORDER + 1)] for _ in range(ZONES)]
        self.order_of = {}
        pfn = 0
        while pfn < self.frames:
            if not self.is_free(pfn):
                pfn += 1
                continue
            order, zone = 0, self.zone_of(pfn)
            while order < MAX_ORDER and not pfn & (1 << order):
                end = pfn + (2 << order)
                if end > self.frames or not all(self.is_free(f) and self.zone_of(f) == zone
                                                for f in range(pfn + (1 << order), end)):
                    break
                order += 1
            self.lists[zone][order].append(pfn)
            self.order_of[pfn] = order
            pfn += 1 << order

    @classmethod
    def from_lists(cls, frames: int, zone_of: Callable[[int], int],
                   lists: list[list[list[int]]], reserved: int = 0,
                   node_count: int = 1, free: int | None = None) -> BuddyModel:
        """A model holding exactly these lists (decoded from the kernel); the
        free frames are the lists' unless the bitmap's are given (they differ
        after a poke)."""
        if free is None:
            free = 0
            for zone in lists:
                for order, heads in enumerate(zone):
                    for h in heads:
                        free |= ((1 << (1 << order)) - 1) << h
        return cls(frames, zone_of, free, reserved, [[list(h) for h in z] for z in lists],
                   node_count)

    # -- queries ----------------------------------------------------------------

    def is_free(self, pfn: int) -> bool:
        return bool(self.free >> pfn & 1)

    def lowest_free(self) -> int | None:
        return (self.free & -self.free).bit_length() - 1 if self.free else None

    def free_blocks(self) -> list[int]:
        """Blocks on the lists per order, all zones together."""
        return [sum(len(self.lists[z][k]) for z in range(ZONES)) for k in range(MAX_ORDER + 1)]

    # -- list operations, as buddy.c ---------------------------------------------

    def _push(self, pfn: int, order: int) -> None:
        self.lists[self.zone_of(pfn)][order].insert(0, pfn)
        self.order_of[pfn] = order

    def _unlink(self, pfn: int) -> int:
        order = self.order_of.pop(pfn)
        self.lists[self.zone_of(pfn)][order].remove(pfn)
        return order

    def take_frame(self, pfn: int) -> None:
        order, head = 0, pfn
        while self.order_of.get(head) != order:
            order += 1
            assert order <= MAX_ORDER, f"frame {pfn:#x} is in no free block"
            head = pfn & ~((1 << order) - 1)
        self._unlink(head)
        while order > 0:
            order -= 1
            half = 1 << order
            if pfn >= head + half:
                self._push(head, order)
                head += half
            else:
                self._push(head + half, order)

    def give(self, pfn: int, order: int) -> None:
        zone = self.zone_of(pfn)
        while order < MAX_ORDER:
            buddy = pfn ^ (1 << order)
            if buddy >= self.frames or self.order_of.get(buddy) != order \
                    or self.zone_of(buddy) != zone:
                break
            self._unlink(buddy)
            pfn &= buddy
            order += 1
        self._push(pfn, order)

    def take_block(self, order: int, zones: Iterable[int]) -> int | None:
        for z in zones:
            for k in range(order, MAX_ORDER + 1):
                if not self.lists[z][k]:
                    continue
                pfn = self.lists[z][k][0]
                self._unlink(pfn)
                while k > order:
                    k -= 1
                    self._push(pfn + (1 << k), k)
                return pfn
        return None

    def take_checked(self, order: int, first_zone: int) -> int | None:
        """take_block as pmm.c calls it: a block the bitmap says is used (a
        poke) makes the lists be rebuilt from the bitmap, then it retries."""
        zones = range(first_zone, 2 * self.node_count, 2)
        while True:
            pfn = self.take_block(order, zones)
            if pfn is None or all(self.is_free(f) for f in range(pfn, pfn + (1 << order))):
                return pfn
            self.rebuild()

    def poke(self, pfn: int) -> None:
        """A frame marked used behind the allocator's back: the bitmap
        changes, the lists do not."""
        self.free &= ~(1 << pfn)

    # -- the PMM's calls (frame numbers; None for NULL) ---------------------------

    def _mark_used(self, pfn: int, n: int) -> None:
        self.free &= ~(((1 << n) - 1) << pfn)

    def allocate_page(self) -> int | None:
        pfn = self.lowest_free()
        if pfn is None:
            return None
        self._mark_used(pfn, 1)
        self.take_frame(pfn)
        return pfn

    def allocate_block(self, order: int) -> int | None:
        if order > MAX_ORDER:
            return None
        pfn = self.take_checked(order, 0)
        if pfn is not None:
            self._mark_used(pfn, 1 << order)
        return pfn

    def allocate_pages(self, n: int) -> int | None:
        """For 2 <= n <= 2^MAX_ORDER (longer runs take the old first-fit scan)."""
        assert 2 <= n <= 1 << MAX_ORDER
        order = (n - 1).bit_length()
        pfn = self.take_checked(order, 0)
        if pfn is None:
            pfn = self.take_checked(order, 1)
        if pfn is None:
            return None
        self._mark_used(pfn, n)
        at, end = pfn + n, pfn + (1 << order)
        while at < end:
            k = ((at - pfn) & -(at - pfn)).bit_length() - 1
            self.give(at, k)
            at += 1 << k
        return pfn

    def _freeable(self, pfn: int) -> bool:
        return 0 <= pfn < self.frames and not self.is_free(pfn) and not self.reserved >> pfn & 1

    def free_page(self, pfn: int) -> bool:
        """False (and nothing changes) for a frame the kernel refuses."""
        if not self._freeable(pfn):
            return False
        self.free |= 1 << pfn
        self.give(pfn, 0)
        return True

    def free_block(self, pfn: int, order: int) -> list[bool]:
        """Whether each frame was freed (a whole block at once when all can be)."""
        if order > MAX_ORDER:
            return [False]
        n = 1 << order
        if pfn % n == 0 and pfn + n <= self.frames and all(self._freeable(f)
                                                           for f in range(pfn, pfn + n)):
            self.free |= ((1 << n) - 1) << pfn
            self.give(pfn, order)
            return [True] * n
        return [self.free_page(f) for f in range(pfn, pfn + n)]
