"""The heap's documented contract (firmware/include/mm/heap.h): every block
has a 16-byte header before it and a 4-byte red zone after the requested
bytes; requests up to HEAP_SMALL_MAX bytes come from slab classes, larger
ones from the large region.  A slab class of capacity C holds requests of up
to C - RED_ZONE bytes (the red zone is inside the slot)."""

HEADER, RED_ZONE = 16, 4
HEAP_SMALL_MAX = 2048


def largest_sizes(capacities: list[int]) -> list[int]:
    """The largest request each slab class takes (its slot holds the block
    and its red zone)."""
    return [min(c - RED_ZONE, HEAP_SMALL_MAX) for c in capacities]


def class_for(capacities: list[int], size: int) -> int | None:
    """The slab class a request of ``size`` bytes gets: the smallest whose
    slot holds it and its red zone; None for the large region."""
    if not 1 <= size <= HEAP_SMALL_MAX:
        return None
    return next(i for i, c in enumerate(capacities) if size + RED_ZONE <= c)


def realloc_stays(capacity: int, size: int) -> bool:
    """Whether krealloc keeps a slab block of class ``capacity`` where it is
    for a new size (heap.c's rule): it must fit, and not waste more than half
    the slot unless it is a big one (over HEAP_SMALL_MAX / 2)."""
    usable = capacity - RED_ZONE
    return size <= usable and (size > HEAP_SMALL_MAX // 2 or size >= usable // 2)
