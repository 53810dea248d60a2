"""Every CPU's frame cache (firmware/mm/pcp.c) read from guest RAM through
the debug info (``cpus[i].frames``), and its audit against the PMM's
bitmaps and the frame table (the rules: harness/decode/pcp.py); the PMM's
lock, which the caches' refills and drains take, and pcp_drain_lock, which a
CPU holds while it asks another for its frames, must be free too."""

from __future__ import annotations

import struct

from harness.decode.pcp import CpuCache, check, lock_problems
from harness.targets.mmverify.kernel import Kernel


def offset_of(kernel: Kernel, struct_name: str, field: str) -> int:
    """A field's offset, by GDB (the layout reader skips nested structs)."""
    return int(kernel.m.evaluate(f"(unsigned)&((struct {struct_name} *)0)->{field}"), 0)


def read_caches(kernel: Kernel) -> list[CpuCache]:
    """Every struct cpu's cache, CPU 0 first (offline CPUs' too: theirs
    must be empty)."""
    cpu_size = kernel.sizeof("struct cpu")
    count = kernel.sizeof("cpus") // cpu_size
    base = kernel.m.symbol("cpus") + offset_of(kernel, "cpu", "frames")
    size = kernel.sizeof("struct pcp")
    words = ("count", "drain_asked", "drain_done", "busy")
    at = {f: offset_of(kernel, "pcp", f) for f in (*words, "pfns", "stats")}
    capacity = kernel.sizeof("((struct pcp *)0)->pfns") // 4
    stats = kernel.layout("pcp_stats")
    raw = kernel.read_kernel(base, cpu_size * (count - 1) + size)
    caches = []
    for i in range(count):
        one = raw[i * cpu_size:i * cpu_size + size]
        word = {f: struct.unpack_from("<I", one, at[f])[0] for f in words}
        caches.append(CpuCache(
            i, word["count"], struct.unpack_from(f"<{capacity}I", one, at["pfns"]),
            stats.decode(one[at["stats"]:at["stats"] + stats.size]),
            word["drain_asked"], word["drain_done"], word["busy"]))
    return caches


def pcp_audit(kernel: Kernel) -> list[str]:
    """Every way the caches disagree with the PMM now (empty: none)."""
    used, reserved = kernel.pmm_bitmaps()
    found = check(read_caches(kernel), used.value, reserved.value, used.count,
                  kernel.frame_table())
    for lock in ("pmm_lock", "pcp_drain_lock"):
        found += lock_problems(lock, kernel.read_struct("spinlock", lock))
    return [f"pcp: {p}" for p in found]
