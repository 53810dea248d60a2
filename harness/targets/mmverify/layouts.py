"""Process address-space layouts, as the kernel reports them when it spawns
(SPAWN records), and how random they are."""

from __future__ import annotations

import collections
import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from harness.machine.machine import Machine

# Room each region needs (mm/uvm.h): the layouts must never overlap with it.
USER_HEAP_MAX = 256 << 20
USER_SHM_SPAN = 64 << 20
USER_STACK_MAX = 1 << 20
PAGE = 4096


@dataclass(frozen=True)
class Layout:
    heap: int
    shm: int
    stack: int

    def problems(self) -> list[str]:
        """Why this layout is unsound (empty when it is fine)."""
        out = []
        if any(v % PAGE for v in (self.heap, self.shm, self.stack)):
            out.append("not page aligned")
        if not (self.heap >= 0x80000000 and self.heap + USER_HEAP_MAX <= self.shm):
            out.append("heap and its room overlap shared memory")
        if self.shm + USER_SHM_SPAN > self.stack - USER_STACK_MAX - PAGE:
            out.append("shared memory overlaps the stack or its guard page")
        if self.stack > 0xC0000000:
            out.append("stack reaches the kernel")
        return out


def spawned_layouts(machine: Machine, name: str, since: int = 0) -> list[Layout]:
    return [Layout(r.int("heap"), r.int("shm"), r.int("stack"))
            for r in machine.records("SPAWN", since=since) if r["name"] == name]


def entropy_bits(values: Iterable[Hashable]) -> float:
    """Shannon entropy of the sample's empirical distribution, in bits (at
    most log2 of the sample count)."""
    counts = collections.Counter(values)
    n = sum(counts.values())
    return -sum(c / n * math.log2(c / n) for c in counts.values())
