"""Swap as pure Python (firmware/include/mm/swap.h): swap entries, the slot
map, the swap cache, and the swap audit.

A swap entry is a not-present PTE with PAGE_SWAP (bit 7): its frame bits
(bits 31:12 of the low half, in either paging mode) name the slot, its low
bits keep the page's rights (U, W, COW; NX in a PAE entry's high half), and
it never has PAGE_OWNED: it maps nothing and holds no frame.

The slot map is one byte a slot, its references: every swap entry naming
the slot, plus one while the swap cache holds a frame for it (the cache is
one frame number a slot, 0 when none).  0xFF marks a slot retired after a
disk write failed.  :func:`audit` checks exactly that equation with what the
caller found in every live address space's page tables.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.decode.paging import COW, OWNED, USER, WRITE

RETIRED = 0xFF  # SWAP_RETIRED: never used again
MESSAGE_HOLDERS = 6  # entries named in one failure before "and N more"


def slot_of(raw: int) -> int:
    """The slot a swap entry names."""
    return (raw & 0xFFFFFFFF) >> 12


def rights_text(raw: int) -> str:
    """The rights a swap entry keeps, as ``U W cow``."""
    return " ".join(name for bit, name in ((USER, "U"), (WRITE, "W"), (COW, "cow"))
                    if raw & bit) or "-"


@dataclass(frozen=True)
class SwapEntry:
    """A swap entry: whose space, which address, the raw entry."""

    who: str
    va: int
    raw: int

    @property
    def slot(self) -> int:
        return slot_of(self.raw)

    def __str__(self) -> str:
        return f"{self.who} va {self.va:#010x} slot {self.slot}"


@dataclass(frozen=True)
class SwapState:
    """The slot map (one byte a slot) and the swap cache (one frame number a
    slot) as read from the kernel; both empty when swap is off."""

    refs: bytes
    cache: tuple[int, ...]

    @classmethod
    def decode(cls, refs: bytes, cache: bytes) -> SwapState:
        if len(cache) != 4 * len(refs):
            raise ValueError(f"{len(refs)} slots need {4 * len(refs)} bytes of swap cache, "
                             f"not {len(cache)}")
        return cls(refs, struct.unpack(f"<{len(refs)}I", cache))

    @property
    def slots(self) -> int:
        return len(self.refs)

    def in_use(self) -> list[int]:
        """Slots with references (retired ones are not in use)."""
        return [s for s, r in enumerate(self.refs) if r and r != RETIRED]

    def retired(self) -> list[int]:
        return [s for s, r in enumerate(self.refs) if r == RETIRED]

    def cached(self) -> dict[int, int]:
        """slot -> frame number, for every slot the swap cache holds."""
        return {s: pfn for s, pfn in enumerate(self.cache) if pfn}


def _some(items: list, limit: int = MESSAGE_HOLDERS) -> str:
    text = ", ".join(str(i) for i in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def entry_problem(raw: int) -> str | None:
    """What is wrong with a swap entry by itself, or None."""
    if raw & OWNED:
        return "has PAGE_OWNED (a swap entry holds no frame)"
    if not raw & USER:
        return "has no U (only user pages are swapped)"
    if raw & WRITE and raw & COW:
        return "is both writable and COW"
    return None


def audit(state: SwapState, entries: Iterable[SwapEntry]) -> list[str]:
    """Every slot in use is referenced by exactly the swap entries and the
    swap-cache entry that name it; slot 0 is never used; no entry names a
    free, retired or missing slot; a cached slot is in use."""
    out: list[str] = []
    named: dict[int, list[SwapEntry]] = {}
    for e in entries:
        problem = entry_problem(e.raw)
        if problem:
            out.append(f"{e}: swap entry {e.raw:#x} {problem}")
        named.setdefault(e.slot, []).append(e)
    for slot, holders in sorted(named.items()):
        if slot == 0 or slot >= state.slots:
            out.append(f"slot {slot} (of {state.slots}) named by {_some(holders)}: "
                       f"no such slot")
        elif state.refs[slot] == RETIRED:
            out.append(f"slot {slot} is retired but named by {_some(holders)}")
    if state.slots and state.refs[0]:
        out.append(f"slot 0 has {state.refs[0]} references: it is never used")
    for slot in range(1, state.slots):
        refs = state.refs[slot]
        if refs == RETIRED:
            if state.cache[slot]:
                out.append(f"slot {slot} is retired but cached in frame {state.cache[slot]:#x}")
            continue
        holders = named.get(slot, [])
        cached = 1 if state.cache[slot] else 0
        if refs != len(holders) + cached:
            why = f"{len(holders)} swap entries" + (" + the swap cache" if cached else "")
            out.append(f"slot {slot}: refs={refs}, expected {len(holders) + cached} ({why}"
                       + (f": {_some(holders)}" if holders else "") + ")")
    return out


def cache_references(state: SwapState) -> Mapping[int, list[str]]:
    """frame number -> the swap cache's reference on it (one per cached slot)."""
    refs: dict[int, list[str]] = {}
    for slot, pfn in state.cached().items():
        refs.setdefault(pfn, []).append(f"swap cache slot {slot}")
    return refs
