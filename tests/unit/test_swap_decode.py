"""harness/decode/swap.py without QEMU: swap entries decoded in both
formats, and the swap audit's findings on hand-made slot maps."""

import struct

import pytest

from harness.decode.paging import is_swap
from harness.decode.swap import (
    RETIRED,
    SwapEntry,
    SwapState,
    audit,
    cache_references,
    entry_problem,
    slot_of,
)

SWAP, PRESENT, USER, WRITE, OWNED, COW = 0x80, 0x1, 0x4, 0x2, 0x200, 0x800
NX = 1 << 63


def entry(slot: int, rights: int = USER | WRITE, nx: bool = False) -> int:
    return slot << 12 | SWAP | rights | (NX if nx else 0)


def state(refs: list[int], cache: dict[int, int] | None = None) -> SwapState:
    cached = [0] * len(refs)
    for slot, pfn in (cache or {}).items():
        cached[slot] = pfn
    return SwapState.decode(bytes(refs), struct.pack(f"<{len(refs)}I", *cached))


def test_a_swap_entry_is_not_present_with_bit_7_and_names_its_slot_in_either_format():
    assert is_swap(entry(5)) and slot_of(entry(5)) == 5
    assert is_swap(entry(0xFFFFF, nx=True)) and slot_of(entry(0xFFFFF, nx=True)) == 0xFFFFF
    assert not is_swap(entry(5) | PRESENT), "present: bit 7 is PAT, not swap"
    assert not is_swap(5 << 12 | USER | 0x100), "a PROT_NONE entry"
    assert not is_swap(0)


def test_an_entry_holding_a_frame_or_without_u_is_a_problem():
    assert entry_problem(entry(1)) is None
    assert entry_problem(entry(1, USER | COW)) is None
    assert "PAGE_OWNED" in entry_problem(entry(1) | OWNED)
    assert "no U" in entry_problem(entry(1, WRITE))
    assert "writable and COW" in entry_problem(entry(1, USER | WRITE | COW))


def test_consistent_slots_with_a_shared_slot_and_the_swap_cache():
    entries = [SwapEntry("pid 1", 0x1000, entry(1)),
               SwapEntry("pid 1", 0x2000, entry(2, USER | COW)),
               SwapEntry("pid 2", 0x2000, entry(2, USER | COW))]
    s = state([0, 1, 3, 0], cache={2: 0x1234})
    assert audit(s, entries) == []
    assert s.in_use() == [1, 2] and s.cached() == {2: 0x1234}
    assert cache_references(s) == {0x1234: ["swap cache slot 2"]}


@pytest.mark.parametrize("refs, cache, entries, problem", [
    ([0, 2], {}, [1], "slot 1: refs=2, expected 1 (1 swap entries: pid 1 va 0x00001000 slot 1)"),
    ([0, 1], {}, [], "slot 1: refs=1, expected 0 (0 swap entries)"),
    ([0, 0], {}, [1], "slot 1: refs=0, expected 1 (1 swap entries: pid 1 va 0x00001000 slot 1)"),
    ([0, 1], {1: 7}, [1], "slot 1: refs=1, expected 2 (1 swap entries + the swap cache: "
                          "pid 1 va 0x00001000 slot 1)"),
    ([0, RETIRED], {}, [1], "slot 1 is retired but named by pid 1 va 0x00001000 slot 1"),
    ([0, 0], {}, [9], "slot 9 (of 2) named by pid 1 va 0x00001000 slot 9: no such slot"),
    ([1, 0], {}, [], "slot 0 has 1 references: it is never used"),
])
def test_each_broken_slot_is_named(refs, cache, entries, problem):
    found = audit(state(refs, cache), [SwapEntry("pid 1", 0x1000, entry(s)) for s in entries])
    assert problem in found, found


def test_a_retired_slot_needs_no_holder():
    assert audit(state([0, RETIRED, 1]), [SwapEntry("pid 1", 0x1000, entry(2))]) == []
    assert state([0, RETIRED, 1]).retired() == [1]
