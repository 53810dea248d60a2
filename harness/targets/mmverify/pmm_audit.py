"""The PMM audit: the buddy allocator's per-order maps (firmware/mm/buddy.h)
against the bitmap, read from guest RAM.  The bitmap is the truth; the
maps must hold exactly what it implies (the maps contract, issue 19):

- for every order k, map k's set bits are exactly the maximal free blocks
  of order k (harness/decode/buddy.py derives them from the bitmap and the
  zones) minus the hint word's exempt blocks: its small blocks (order <= 4
  inside word pmm_hint), its own block (buddy_hint_order) and its front
  (buddy_front_mask), which must be what the bitmap implies;
- every summary level of every map is exact;
- no free frame is reserved; pmm_stats.free_frames counts the bitmap's free
  frames; each node's free_frames counts its free frames when there are
  several nodes, and stays 0 with one (it is not kept then);
- FRAME_CONTIG (a kmalloc_contig block's head) only on used frames.

Everything is a big-int operation over the whole bitmap at once: no loop
over frames, so the audit adds milliseconds to a test even at 4 GiB.

:func:`buddy_model` gives tests a :class:`BuddyModel` of the kernel's
bitmap now, to predict the next calls from."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from harness.decode.buddy import (
    FRAME_CONTIG,
    MAP_LEVELS,
    ORDERS,
    SMALL_ORDERS,
    WORD,
    Exempt,
    OrderMap,
    Zones,
    block_order_at,
    decode_maps,
    exempt_of,
    expected_maps,
    front_head,
    low_bits,
    lowest_bit,
    maximal_blocks,
    nonzero_words,
)
from harness.targets.mmverify.buddy_model import BuddyModel, KernelMaps
from harness.targets.mmverify.kernel import Kernel

# A flags byte with FRAME_CONTIG set.
CONTIG_FLAGS = re.compile(b"[" + b"".join(re.escape(bytes([b])) for b in range(256)
                                          if b & FRAME_CONTIG) + b"]")


@dataclass
class BuddyState:
    frames: int           # buddy_frame_count: frames the maps cover
    used: int             # the bitmap's used bits (all frames)
    reserved: int
    frame_count: int      # frames the bitmap covers
    nodes: bytes          # each frame's node (frame table)
    flags: bytes          # each frame's flags (frame table)
    maps: list[OrderMap]
    map_problems: list[str]
    hint: int             # pmm_hint
    front_mask: int       # buddy_front_mask
    hint_order: int       # buddy_hint_order
    free_frames: int      # pmm_stats.free_frames
    node_count: int
    node_stats: list[dict]
    stats: dict           # buddy_stats: failures, repairs

    @property
    def zones(self) -> Zones:
        return Zones.from_nodes(self.nodes, self.frames)

    @property
    def free(self) -> int:
        """The free frames the maps cover."""
        return ~self.used & low_bits(self.frames)


def _u32s(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 4}I", data))


def read_buddy(kernel: Kernel) -> BuddyState:
    m = kernel.m
    frames = kernel.u32("buddy_frame_count")
    pointers = _u32s(kernel.read_kernel(m.symbol("buddy_map"), ORDERS * MAP_LEVELS * 4))
    words = _u32s(kernel.read_kernel(m.symbol("buddy_map_words"), ORDERS * MAP_LEVELS * 4))
    levels = _u32s(kernel.read_kernel(m.symbol("buddy_map_levels"), ORDERS * 4))
    area_start = kernel.kernel_base + kernel.u32("buddy_maps_phys")
    area = kernel.read_kernel(area_start, kernel.u32("buddy_maps_bytes"))
    maps, problems = decode_maps(area, area_start,
                                 [pointers[k * MAP_LEVELS:(k + 1) * MAP_LEVELS]
                                  for k in range(ORDERS)],
                                 [words[k * MAP_LEVELS:(k + 1) * MAP_LEVELS]
                                  for k in range(ORDERS)], levels)
    used, reserved = kernel.pmm_bitmaps()
    table = kernel.frame_table()
    node_count = kernel.u32("pmm_node_count")
    layout = kernel.layout("pmm_node_stats")
    raw = kernel.read_kernel(m.symbol("pmm_node_stats"), layout.size * node_count)
    node_stats = [layout.decode(raw[i * layout.size:(i + 1) * layout.size])
                  for i in range(node_count)]
    return BuddyState(frames, used.value, reserved.value, used.count, table.data[3::4],
                      table.data[2::4], maps, problems, kernel.pmm_hint(),
                      kernel.u32("buddy_front_mask"), kernel.u32("buddy_hint_order"),
                      kernel.pmm_stats()["free_frames"], node_count, node_stats,
                      kernel.read_struct("buddy_stats", "buddy_stats"))


def what_the_bitmap_says(s: BuddyState, blocks: list[int], ex: Exempt, head: int,
                         order: int) -> str:
    """Why no map may hold a block of this order at this frame, or what it is."""
    n = 1 << order
    if head % n or head + n > s.frames:
        return f"it is not aligned to 2^{order} or runs past the {s.frames} frames"
    run = s.used >> head & low_bits(n)
    if run:
        return f"the bitmap says frame {head + lowest_bit(run):#x} in it is used"
    if blocks[order] >> head & 1:
        if order < SMALL_ORDERS and head // WORD == ex.hint:
            return f"it is a maximal block inside the hint word {ex.hint:#x} (exempt)"
        if order == ex.hint_order and head == ex.hint * WORD:
            return f"it is the hint word {ex.hint:#x}'s own block (exempt)"
        return f"it is a front block of the hint word {ex.hint:#x} (exempt)"
    found = block_order_at(blocks, head)
    if found is None:
        return "its frames are free but in no maximal block (crosses a zone?)"
    at, k = found
    if k > order:
        return f"it is part of the maximal block of order {k} at frame {at:#x}"
    return f"the maximal block at frame {at:#x} has order {k} (crosses a zone or a larger block)"


def check_maps(s: BuddyState, blocks: list[int], ex: Exempt) -> list[str]:
    out = list(s.map_problems)
    expected = expected_maps(blocks, ex, s.frames)
    for k, (om, want) in enumerate(zip(s.maps, expected, strict=False)):
        got = om.map
        small = k < SMALL_ORDERS
        if got != want:
            diff = got ^ want
            i = lowest_bit(diff)
            head = i if small else i << k
            where = f"map {k} bit {i:#x} (frame {head:#x})"
            if got >> i & 1:
                out.append(f"{where} is set, but {what_the_bitmap_says(s, blocks, ex, head, k)}"
                           f" ({diff.bit_count()} bits differ)")
            else:
                out.append(f"{where} is clear, but the bitmap has a maximal block of order {k}"
                           f" there ({diff.bit_count()} bits differ)")
        for lv in range(1, len(om.levels)):
            below, below_words = om.levels[lv - 1], om.words[lv - 1]
            if om.words[lv] * WORD < below_words:
                out.append(f"map {k} level {lv}: {om.words[lv]} words cannot summarise "
                           f"{below_words} words")
                continue
            want_summary = nonzero_words(below, below_words)
            if om.levels[lv] != want_summary:
                j = lowest_bit(om.levels[lv] ^ want_summary)
                state = "set" if om.levels[lv] >> j & 1 else "clear"
                word = "zero" if want_summary >> j & 1 == 0 else "non-zero"
                out.append(f"map {k} summary level {lv} bit {j:#x} is {state}, word {j:#x} of "
                           f"level {lv - 1} is {word}")
        if om.words and om.words[-1] != 1:
            out.append(f"map {k}: its top level has {om.words[-1]} words, not one")
    return out


def check_front(s: BuddyState, ex: Exempt) -> list[str]:
    out = []
    if s.hint_order != ex.hint_order:
        out.append(f"buddy_hint_order is {s.hint_order}, the bitmap implies {ex.hint_order} "
                   f"(hint word {s.hint:#x})")
    if s.front_mask != ex.front_mask:
        i = lowest_bit(s.front_mask ^ ex.front_mask)
        at = front_head(s.hint, i) if s.hint != 0xFFFFFFFF else 0
        out.append(f"buddy_front_mask is {s.front_mask:#x}, the bitmap implies "
                   f"{ex.front_mask:#x} (hint word {s.hint:#x}, cap {ex.cap}): bit {i}, the "
                   f"order-{i} block at frame {at:#x}")
    return out


def check_counts(s: BuddyState) -> list[str]:
    out = []
    all_free = ~s.used & low_bits(s.frame_count)
    if all_free & s.reserved:
        out.append(f"frame {lowest_bit(all_free & s.reserved):#x} is reserved but free")
    if s.free_frames != all_free.bit_count():
        out.append(f"pmm_stats.free_frames {s.free_frames}, the bitmap has "
                   f"{all_free.bit_count()} free frames")
    if s.node_count > 1:
        counts = [0] * s.node_count
        for start, end, zone in Zones.from_nodes(s.nodes, s.frame_count).ends():
            if zone // 2 < s.node_count:
                counts[zone // 2] += (all_free >> start & low_bits(end - start)).bit_count()
        expected = counts
    else:
        expected = [0] * s.node_count  # one node: not kept (pmm_node_free reads pmm_stats)
    for n, st in enumerate(s.node_stats):
        if st["free_frames"] != expected[n]:
            out.append(f"node {n}: free_frames {st['free_frames']}, expected {expected[n]}"
                       + ("" if s.node_count > 1 else " (one node: not kept)"))
    for m in CONTIG_FLAGS.finditer(s.flags):
        f = m.start()
        if f < s.frame_count and not s.used >> f & 1:
            out.append(f"frame {f:#x} is free but has FRAME_CONTIG (a kmalloc_contig head)")
    return out


def check(s: BuddyState) -> list[str]:
    """Every way the maps and counters disagree with the bitmap (empty: none)."""
    blocks = maximal_blocks(s.free, s.zones)
    ex = exempt_of(blocks, s.zones, s.hint)
    return check_maps(s, blocks, ex) + check_front(s, ex) + check_counts(s)


def buddy_audit(kernel: Kernel) -> list[str]:
    """Every way the buddy maps disagree with the bitmap now (empty: none)."""
    return [f"buddy: {p}" for p in check(read_buddy(kernel))]


def model_of(s: BuddyState) -> BuddyModel:
    """A model of this bitmap (its free frames, reserved frames, zones)."""
    return BuddyModel(s.frames, s.zones, s.free, s.reserved & low_bits(s.frames))


def buddy_model(kernel: Kernel) -> BuddyModel:
    """A model of the kernel's bitmap now."""
    return model_of(read_buddy(kernel))


def kernel_maps(s: BuddyState) -> KernelMaps:
    """The maps and hint-word state the kernel's search reads, as read."""
    return KernelMaps(tuple(om.map for om in s.maps), s.hint, s.hint_order, s.front_mask)
