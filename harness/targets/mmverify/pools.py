"""The kernel's memory pools (firmware/include/mm/pool.h) read from outside:
``pool_table`` by name, and a pool's reserve as the chain of objects in
guest memory (each object's first word names the next).

One walker for everyone: the ``mm pools`` GDB command and the tests both
call :func:`reserve_chain` with their own way of reading a word, so this
module imports nothing (GDB's Python loads it too)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


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


def pools(kernel: Any) -> dict[str, Any]:
    """The live pools by name, from pool_table (``kernel``: a
    harness.targets.mmverify.kernel.Kernel)."""
    count = kernel.u32("pool_count")
    table = kernel.read_array("pool", kernel.m.symbol("pool_table"), count)
    return {bytes(p["name"]).split(b"\0")[0].decode(): p for p in table}


def pool_reserve(kernel: Any, pool: Any) -> list[int]:
    """:func:`reserve_chain` of one pool (a row of :func:`pools`), read
    through ``kernel`` (frames in the direct map from guest RAM, heap objects
    through the page tables)."""
    def read_u32(addr: int) -> int:
        return int.from_bytes(kernel.read_kernel(addr, 4), "little")
    return reserve_chain(read_u32, pool["reserve"], pool["min_objects"])
