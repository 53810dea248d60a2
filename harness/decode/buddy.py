"""The PMM's buddy free lists decoded from guest RAM (firmware/mm/buddy.h):
the list heads (buddy_lists[zone][order], frame numbers) and the per-frame
metadata (struct buddy_frame: next, prev, order, zone; 12 bytes a frame).

:func:`decode` follows every list from its head and reports what does not
hold together (a broken back link, a cycle, a head whose order or zone is
not its list's); the PMM audit (harness/targets/mmverify/invariants.py)
compares the result with the bitmap."""

from __future__ import annotations

import struct
from dataclasses import dataclass

NONE = 0xFFFFFFFF
NOT_HEAD = 0xFF
CONTIG = 0x80  # order | this: the head of a kmalloc_contig block (used)
BLOCK = 0x40   # order | this: the head of a block allocate_block gave out (used)
ENTRY = struct.Struct("<IIBBH")  # struct buddy_frame


@dataclass(frozen=True)
class FrameMeta:
    next: int
    prev: int
    order: int
    zone: int


@dataclass
class BuddyLists:
    lists: list[list[list[int]]]  # [zone][order] -> heads, in list order
    orders: bytes                 # every frame's order byte (NOT_HEAD: heads no free block)
    zones: bytes                  # every frame's zone byte
    problems: list[str]

    def blocks(self) -> list[tuple[int, int, int]]:
        """Every listed block as (zone, order, first frame)."""
        return [(z, k, h) for z, zone in enumerate(self.lists) for k, heads in enumerate(zone)
                for h in heads]


def meta_at(meta: bytes, pfn: int) -> FrameMeta:
    return FrameMeta(*ENTRY.unpack_from(meta, pfn * ENTRY.size)[:4])


def decode(heads: bytes, meta: bytes, zones: int, orders: int) -> BuddyLists:
    """The lists as linked in guest RAM (only the heads' entries unpacked); a
    list that loops or leaves the frames is cut where it does (and the
    problem named)."""
    frames = len(meta) // ENTRY.size
    words = struct.unpack(f"<{zones * orders}I", heads)
    out: list[list[list[int]]] = [[[] for _ in range(orders)] for _ in range(zones)]
    problems: list[str] = []
    for z in range(zones):
        for k in range(orders):
            seen: set[int] = set()
            prev, pfn = NONE, words[z * orders + k]
            while pfn != NONE:
                where = f"zone {z} order {k} list"
                if pfn >= frames:
                    problems.append(f"{where}: frame {pfn:#x} is past the {frames} frames")
                    break
                if pfn in seen:
                    problems.append(f"{where}: cycle at frame {pfn:#x}")
                    break
                seen.add(pfn)
                m = meta_at(meta, pfn)
                if m.prev != prev:
                    problems.append(f"{where}: frame {pfn:#x} prev={m.prev:#x}, "
                                    f"the list came from {prev:#x}")
                if m.order != k or m.zone != z:
                    problems.append(f"{where}: frame {pfn:#x} says order {m.order} zone {m.zone}")
                out[z][k].append(pfn)
                prev, pfn = pfn, m.next
    return BuddyLists(out, meta[8::ENTRY.size], meta[9::ENTRY.size], problems)
