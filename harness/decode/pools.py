"""A memory pool's reserve (firmware/include/mm/pool.h) as a chain of
objects, each one's first word naming the next.

Pure, so the ``mm pools`` GDB command and the harness
(harness.targets.mmverify.pools, used by the tests) share this one walker,
each with its own way of reading a word."""

from __future__ import annotations

from collections.abc import Callable


def reserve_chain(read_u32: Callable[[int], int], first: int, limit: int) -> list[int]:
    """The reserve's objects from ``first`` (kernel addresses), in order, at
    most ``limit`` + 1 of them: one more than the pool's ``min_objects``, so
    a chain that runs on (a cycle, a stray link) shows as too long instead of
    looping.  ``read_u32(addr)`` reads one little-endian word of the kernel's
    memory."""
    chain: list[int] = []
    obj = first
    while obj and len(chain) <= limit:
        chain.append(obj)
        obj = read_u32(obj)
    return chain
