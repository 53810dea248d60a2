"""The kernel's memory pools (firmware/include/mm/pool.h) read from outside:
``pool_table`` by name, and a pool's reserve through the one walker
(harness.decode.pools, which the ``mm pools`` GDB command uses too)."""

from __future__ import annotations

from typing import Any

from harness.decode.pools import reserve_chain


def pools(kernel: Any) -> dict[str, Any]:
    """The live pools by name, from pool_table (``kernel``: a
    harness.targets.mmverify.kernel.Kernel)."""
    count = kernel.u32("pool_count")
    table = kernel.read_array("pool", kernel.m.symbol("pool_table"), count)
    return {bytes(p["name"]).split(b"\0")[0].decode(): p for p in table}


def pool_reserve(kernel: Any, pool: Any) -> list[int]:
    """One pool's reserve (a row of :func:`pools`), in order, read through
    ``kernel``: frames in the direct map from guest RAM, heap objects
    through the page tables."""
    def read_u32(addr: int) -> int:
        return int.from_bytes(kernel.read_kernel(addr, 4), "little")
    return reserve_chain(read_u32, pool["reserve"], pool["min_objects"])
