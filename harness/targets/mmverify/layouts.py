"""Process address-space layouts, as the kernel reports them when it spawns
(SPAWN records), and how random they are."""

from __future__ import annotations

import collections
import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from harness.machine.machine import Machine

PAGE = 4096


@dataclass(frozen=True)
class Layout:
    heap: int
    shm: int
    stack: int

    def problems(self, room: dict[str, int]) -> list[str]:
        """Why this layout is unsound (empty when it is fine), given the room
        each region needs (the firmware's USER_HEAP_MAX, USER_SHM_SPAN,
        USER_STACK_MAX and USER_TOP: harness.targets.mmverify.constants)."""
        out = []
        if any(v % PAGE for v in (self.heap, self.shm, self.stack)):
            out.append("not page aligned")
        if not (self.heap >= 0x80000000 and self.heap + room["USER_HEAP_MAX"] <= self.shm):
            out.append("heap and its room overlap shared memory")
        if self.shm + room["USER_SHM_SPAN"] > self.stack - room["USER_STACK_MAX"] - PAGE:
            out.append("shared memory overlaps the stack or its guard page")
        if self.stack > room["USER_TOP"]:
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
