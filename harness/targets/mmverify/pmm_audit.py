"""The PMM audit: the buddy lists (firmware/mm/buddy.h) against the bitmap,
read from guest RAM.  The bitmap is the truth; the lists must mirror it:

- every list is well linked (back links, no cycle) and each head says its
  list's order and zone;
- every block is aligned to its size, inside the covered frames (below
  4 GiB), all its frames in its zone (node * 2 + above the direct-map
  limit, the node from the frame table), no two blocks overlap;
- the frames in blocks are exactly the frames the bitmap says are free;
- every block is maximal: its buddy is not a free block of its order and
  zone; no frame outside the lists claims to head a free block, a
  kmalloc_contig mark sits only on a used frame, and an allocate_block
  mark names an aligned block inside the covered frames;
- buddy_stats.free_blocks counts the lists; each node's free_frames counts
  the bitmap's free frames of that node (above 4 GiB too).

:func:`buddy_model` gives tests a :class:`BuddyModel` holding exactly the
kernel's lists, to predict the next calls from."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.decode.buddy import BLOCK, CONTIG, NOT_HEAD, BuddyLists, decode
from harness.targets.mmverify.buddy_model import DIRECT_MAP_PFN, MAX_ORDER, ZONES, BuddyModel
from harness.targets.mmverify.kernel import Kernel

ORDERS = MAX_ORDER + 1
# A frame whose order byte is not NOT_HEAD: a free block's head or a contig mark.
MARKED = re.compile(b"[^" + re.escape(bytes([NOT_HEAD])) + b"]")


@dataclass
class BuddyState:
    frames: int           # frames the lists cover
    lists: BuddyLists
    used: int             # the bitmap's used bits (all frames)
    reserved: int
    frame_count: int      # frames the bitmap covers
    nodes: bytes          # each frame's node (frame table)
    stats: dict
    node_count: int
    node_stats: list[dict]


def read_buddy(kernel: Kernel) -> BuddyState:
    frames = kernel.u32("buddy_frame_count")
    heads = kernel.read_kernel(kernel.m.symbol("buddy_lists"), ZONES * ORDERS * 4)
    meta = kernel.read_kernel(kernel.u32("buddy_frames"), frames * 12)
    used, reserved = kernel.pmm_bitmaps()
    table = kernel.frame_table()
    node_count = kernel.u32("pmm_node_count")
    layout = kernel.layout("pmm_node_stats")
    raw = kernel.read_kernel(kernel.m.symbol("pmm_node_stats"), layout.size * node_count)
    node_stats = [layout.decode(raw[i * layout.size:(i + 1) * layout.size])
                  for i in range(node_count)]
    stats = kernel.read_struct("buddy_stats", "buddy_stats")
    return BuddyState(frames, decode(heads, meta, ZONES, ORDERS), used.value, reserved.value,
                      used.count, table.data[3::4], stats, node_count, node_stats)


def _expected_zones(s: BuddyState) -> bytes:
    nodes = s.nodes[:s.frames]
    low = bytes(2 * n for n in range(256) if 2 * n < 256) + bytes(128)
    high = bytes(min(2 * n + 1, 255) for n in range(256))
    return nodes[:DIRECT_MAP_PFN].translate(low) + nodes[DIRECT_MAP_PFN:].translate(high)


def check(s: BuddyState) -> list[str]:
    out = list(s.lists.problems)
    zones = s.lists.zones
    expected = _expected_zones(s)
    if zones != expected:
        f = next(i for i in range(s.frames) if zones[i] != expected[i])
        out.append(f"frame {f:#x} is in zone {zones[f]}, its node and address say {expected[f]}")
    free = 0
    per_order = [0] * ORDERS
    listed = {h for _, _, h in s.lists.blocks()}
    for z, k, h in s.lists.blocks():
        n = 1 << k
        per_order[k] += 1
        what = f"block {h:#x} order {k} zone {z}"
        if h % n or h + n > s.frames:
            out.append(f"{what}: not aligned to its size or past the {s.frames} frames")
            continue
        mask = ((1 << n) - 1) << h
        if free & mask:
            out.append(f"{what}: overlaps another block")
        free |= mask
        if zones[h:h + n] != bytes([z]) * n:
            out.append(f"{what}: crosses into another zone")
        buddy = h ^ n
        if k < MAX_ORDER and buddy < s.frames and s.lists.orders[buddy] == k \
                and zones[buddy] == z:
            out.append(f"{what}: not maximal, its buddy {buddy:#x} is free at the same order")
    bitmap_free = ~s.used & ((1 << s.frames) - 1)
    if free != bitmap_free:
        diff = free ^ bitmap_free
        f = (diff & -diff).bit_length() - 1
        where = "free in the bitmap but in no block" if bitmap_free >> f & 1 \
            else "in a free block but used in the bitmap"
        out.append(f"frame {f:#x} is {where} ({diff.bit_count()} frames differ)")
    if free & s.reserved:
        f = ((free & s.reserved) & -(free & s.reserved)).bit_length() - 1
        out.append(f"frame {f:#x} is reserved but in a free block")
    for m in MARKED.finditer(s.lists.orders):
        f, o = m.start(), s.lists.orders[m.start()]
        if o & CONTIG:
            if not s.used >> f & 1:
                out.append(f"frame {f:#x} is free but marked as a kmalloc_contig block")
        elif o & BLOCK:
            # A hint free_block checks against the bitmap (mm/pmm.c): it may
            # outlive its block on a frame freed inside a larger one, but it
            # names a block that could have been handed out.
            k = o & ~BLOCK
            if k > MAX_ORDER or f % (1 << k) or f + (1 << k) > s.frames:
                out.append(f"frame {f:#x} has a malformed allocate_block mark {o:#x}")
        elif o > MAX_ORDER or f not in listed:
            out.append(f"frame {f:#x} says it heads a free block of order {o}, no list has it")
    if s.stats["free_blocks"] != per_order:
        out.append(f"buddy_stats.free_blocks {s.stats['free_blocks']}, the lists hold {per_order}")
    all_free = ~s.used & ((1 << s.frame_count) - 1)
    counts = [0] * max(s.node_count, 1)
    if s.node_count == 1:
        counts[0] = all_free.bit_count()
    else:
        text = bin(all_free)[2:][::-1]
        at = text.find("1")
        while at >= 0:
            node = s.nodes[at] if at < len(s.nodes) else 0
            if node < len(counts):
                counts[node] += 1
            at = text.find("1", at + 1)
    for n, st in enumerate(s.node_stats):
        if st["free_frames"] != counts[n]:
            out.append(f"node {n}: free_frames {st['free_frames']}, the bitmap has {counts[n]}")
    return out


def buddy_audit(kernel: Kernel) -> list[str]:
    """Every way the buddy lists disagree with the bitmap now (empty: none)."""
    return [f"buddy: {p}" for p in check(read_buddy(kernel))]


def buddy_model(kernel: Kernel) -> BuddyModel:
    """A model holding exactly the kernel's lists and bitmap now."""
    s = read_buddy(kernel)
    nodes = s.nodes

    def zone_of(pfn: int) -> int:
        return nodes[pfn] * 2 + (pfn >= DIRECT_MAP_PFN)

    below = (1 << s.frames) - 1
    return BuddyModel.from_lists(s.frames, zone_of, s.lists.lists, s.reserved & below,
                                 s.node_count, free=~s.used & below)
