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
