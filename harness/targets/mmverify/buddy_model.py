"""The buddy allocator as pure logic (firmware/mm/buddy.c, pmm.c): what
every allocation returns, predicted from the bitmap alone.

State: the free frames below 4 GiB (a bit mask), the reserved ones and the
zones.  The free blocks are not state: they are the maximal blocks of the
bitmap (harness/decode/buddy.py's maximal_blocks), recomputed when needed.
The rules (the maps contract, issue 19):

- allocate_page: the lowest free frame;
- allocate_block(k), k <= 10: over the zones below the direct-map limit in
  node order (0, 2, 4, ...), the first holding a maximal block of order
  >= k; in it the smallest such order; the lowest such block.  Its first
  2^k frames are used, the rest stays free;
- allocate_pages(n), 2 <= n <= 1024: the same with order ceil(log2 n), then
  over the zones above the limit (1, 3, ...); the first n frames used;
- free_page and free_block: bitmap changes and the kernel's refusals; a
  free_block that is not one whole used block goes frame by frame.

A debugger's poke (:meth:`BuddyModel.poke`) marks a frame used in the
bitmap only: the maps still hold the blocks of the bitmap as it was (the
``stale`` frames count as free for them) until a block request takes a
block the bitmap says is not wholly free (the hint word's own block: the
part taken); then the maps are rebuilt from the bitmap (one repair) and
the request retried.

No QEMU here: tests/unit/test_buddy_model.py checks the model alone, and
tests/pmm/test_buddy*.py compare it with the kernel step by step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.decode.buddy import (
    DIRECT_MAP_PFN,
    MAX_ORDER,
    ORDERS,
    SMALL_ORDERS,
    WORD,
    Exempt,
    Zones,
    exempt_of,
    expected_maps,
    front_head,
    low_bits,
    lowest_bit,
    maximal_blocks,
    spread,
)

__all__ = ["DIRECT_MAP_PFN", "MAX_ORDER", "ORDERS", "BuddyModel", "KernelMaps", "choose_in_maps",
           "zone_by_node"]


@dataclass(frozen=True)
class KernelMaps:
    """What the kernel's search reads besides the bitmap, as it is now (a
    poke can leave it stale): every order's map (map indexing), the hint
    word, its own block's order and its front."""

    maps: tuple[int, ...]
    hint: int
    hint_order: int
    front_mask: int


def choose_in_maps(free: int, zones: Zones, km: KernelMaps, order: int,
                   zone_list: list[int]) -> tuple[int, int, str] | None:
    """(head, order, where) of the block the kernel's search takes for a
    request of ``order`` from its maps as they are: per zone, per order
    from ``order`` up, the hint word's small blocks (read from the bitmap),
    then (one zone) its own block and front block, then the map's lowest
    entry; with several zones the own and front blocks are searched as map
    entries.  ``where``: "hint word", "own", "front" or "map"."""
    words = -(-zones.frames // WORD)
    one_zone = len(zones.runs) == 1
    blocks = maximal_blocks(free, zones)
    in_hint = low_bits(WORD) << (km.hint * WORD) if km.hint < words else 0
    for z in zone_list:
        zmask = zones.mask(z)
        for j in range(order, ORDERS):
            if j < SMALL_ORDERS and (hits := blocks[j] & in_hint & zmask):
                return lowest_bit(hits), j, "hint word"
            mapped = km.maps[j] if j < SMALL_ORDERS else spread(km.maps[j], 1 << j)
            if j >= SMALL_ORDERS and km.hint < words:
                exempt = [(km.hint * WORD, "own")] if km.hint_order == j else []
                if km.front_mask >> j & 1:
                    exempt.append((front_head(km.hint, j), "front"))
                for head, where in exempt:
                    if one_zone:
                        return head, j, where
                    mapped |= 1 << head
            if hits := mapped & zmask:
                return lowest_bit(hits), j, "map"
    return None


def zone_by_node(nodes: Callable[[int], int] | None = None) -> Callable[[int], int]:
    """The kernel's zone of a frame: node * 2 + (frame >= the direct-map limit)."""
    return lambda pfn: (nodes(pfn) if nodes else 0) * 2 + (pfn >= DIRECT_MAP_PFN)


@dataclass
class BuddyModel:
    frames: int                  # frames the maps cover (below 4 GiB)
    zones: Zones
    free: int = 0                # bit f set: frame f is free
    reserved: int = 0            # bit f set: frame f can never be freed
    stale: int = 0               # poked frames the maps still count as free
    repairs: int = 0             # maps rebuilt (buddy_stats.repairs since the model began)
    failures: list[int] = field(default_factory=lambda: [0] * ORDERS)

    def __post_init__(self) -> None:
        self.free &= low_bits(self.frames)

    @classmethod
    def from_free(cls, frames: int, zone_of: Callable[[int], int] | Zones, free: int,
                  reserved: int = 0) -> BuddyModel:
        zones = zone_of if isinstance(zone_of, Zones) else Zones.from_function(frames, zone_of)
        return cls(frames, zones, free, reserved)

    # -- queries ----------------------------------------------------------------

    def zone_of(self, pfn: int) -> int:
        return self.zones.zone_of(pfn)

    def is_free(self, pfn: int) -> bool:
        return bool(self.free >> pfn & 1)

    def lowest_free(self) -> int | None:
        return lowest_bit(self.free) if self.free else None

    def blocks(self) -> list[int]:
        """Per order: bit f set = a maximal free block of that order at f (the bitmap's)."""
        return maximal_blocks(self.free, self.zones)

    def heads(self, order: int) -> list[int]:
        """The first frames of the maximal blocks of one order, lowest first."""
        b, out = self.blocks()[order], []
        while b:
            out.append(lowest_bit(b))
            b &= b - 1
        return out

    def free_blocks(self) -> list[int]:
        """Blocks per order, all zones: what buddy_free_blocks(k) returns."""
        return [b.bit_count() for b in self.blocks()]

    def hint(self) -> int:
        """pmm_hint: the lowest bitmap word with a free frame (NONE: none)."""
        low = self.lowest_free()
        return 0xFFFFFFFF if low is None else low // WORD

    def exempt(self) -> Exempt:
        return exempt_of(self.blocks(), self.zones, self.hint())

    def maps(self) -> list[int]:
        """Every order's map as the kernel must hold it now (no poke pending)."""
        return expected_maps(self.blocks(), self.exempt(), self.frames)

    # -- the maps' view (a poke makes it differ from the bitmap) --------------------

    def _choose(self, order: int, zones: list[int]) -> tuple[int, int] | None:
        """(head, order) of the block the maps give for a request: the first
        zone with a block of order >= ``order``, its smallest such order, the
        lowest such block."""
        blocks = maximal_blocks(self.free | self.stale, self.zones)
        for z in zones:
            mask = self.zones.mask(z)
            for k in range(order, ORDERS):
                if hits := blocks[k] & mask:
                    return lowest_bit(hits), k
        return None

    def _take(self, order: int, zones: list[int]) -> int | None:
        """The head of the block a request gets; a block holding a frame
        the bitmap says is used makes the maps be rebuilt, then it retries."""
        while (got := self._choose(order, zones)) is not None:
            head, k = got
            # The hint word's own block is checked only for the part taken
            # (its upper halves stay exempt); any other block whole.
            n = 1 << (order if head == self.hint() * WORD else k)
            if (self.free >> head & low_bits(n)) == low_bits(n):
                return head
            self.stale = 0
            self.repairs += 1
        return None

    def _low_zones(self) -> list[int]:
        return [z for z in self.zones.present() if z % 2 == 0]

    def _high_zones(self) -> list[int]:
        return [z for z in self.zones.present() if z % 2 == 1]

    def poke(self, pfn: int) -> None:
        """A frame marked used behind the allocator's back (not in the hint
        word or its exempt blocks, which are read from the bitmap)."""
        if self.is_free(pfn):
            self.stale |= 1 << pfn
        self.free &= ~(1 << pfn)

    # -- the PMM's calls (frame numbers; None for NULL) ---------------------------

    def _mark_used(self, pfn: int, n: int) -> None:
        self.free &= ~(low_bits(n) << pfn)

    def allocate_page(self) -> int | None:
        pfn = self.lowest_free()
        if pfn is not None:
            self._mark_used(pfn, 1)
        return pfn

    def allocate_block(self, order: int) -> int | None:
        if order > MAX_ORDER:
            return None
        pfn = self._take(order, self._low_zones())
        if pfn is None:
            self.failures[order] += 1
        else:
            self._mark_used(pfn, 1 << order)
        return pfn

    def allocate_pages(self, n: int) -> int | None:
        """For 2 <= n <= 2^MAX_ORDER (longer runs take the old first-fit scan)."""
        assert 2 <= n <= 1 << MAX_ORDER
        order = (n - 1).bit_length()
        pfn = self._take(order, self._low_zones())
        if pfn is None:
            pfn = self._take(order, self._high_zones())
        if pfn is None:
            self.failures[order] += 1
        else:
            self._mark_used(pfn, n)
        return pfn

    def allocate_pages_from(self, km: KernelMaps, n: int) -> int | None:
        """allocate_pages(n) as the kernel's maps serve it now, stale or not:
        the block its search takes; if the bitmap says that block is not
        free (the own block: the part taken), the maps are rebuilt (a
        repair) and the request retried from the bitmap."""
        assert 2 <= n <= 1 << MAX_ORDER
        order = (n - 1).bit_length()
        for zones in (self._low_zones(), self._high_zones()):
            if len(self.zones.runs) == 1 and zones == self._high_zones():
                break  # one zone: an even one, nothing above the limit
            got = choose_in_maps(self.free, self.zones, km, order, zones)
            if got is None:
                continue
            head, k, where = got
            size = 1 << (order if where in ("own", "hint word") else k)
            if (self.free >> head & low_bits(size)) != low_bits(size):
                self.stale = 0
                self.repairs += 1
                return self.allocate_pages(n)
            self._mark_used(head, n)
            return head
        self.failures[order] += 1
        return None

    def _freeable(self, pfn: int) -> bool:
        return 0 <= pfn < self.frames and not self.is_free(pfn) and not self.reserved >> pfn & 1

    def free_page(self, pfn: int) -> bool:
        """False (and nothing changes) for a frame the kernel refuses."""
        if not self._freeable(pfn):
            return False
        self.free |= 1 << pfn
        self.stale &= ~(1 << pfn)
        return True

    def free_block(self, pfn: int, order: int) -> list[bool]:
        """Whether each frame was freed: a block larger than the largest
        order is refused whole; anything else ends as free_page of each
        frame would (a whole used block at once, the rest frame by frame)."""
        if order > MAX_ORDER:
            return [False]
        return [self.free_page(f) for f in range(pfn, pfn + (1 << order))]
