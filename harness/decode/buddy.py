"""The buddy allocator's blocks as pure logic, and its per-order maps
decoded from raw bytes (firmware/mm/buddy.h).

The frame bitmap is the one truth: the maximal free blocks are a function
of it and of the zones, so :func:`maximal_blocks` derives them from the
bitmap alone; the model (harness/targets/mmverify/buddy_model.py) and the
audit (pmm_audit.py) both use it.  Everything works on Python big ints, one
bit a frame (bit f = frame f), so it costs a few big-int operations per
order even for 2^20 frames, never a loop over frames.

A maximal block of order k at f: f aligned to 2^k, its 2^k frames free and
in f's zone, and (k is the largest order or the aligned 2^(k+1) block
holding it is not all free in one zone).  Every free frame is in exactly
one.

The maps (one per order, each with summary levels up to one word):
order k <= 4 ("small") has one bit a frame, bit f = a block headed at
frame f; order k >= 5 has one bit a block, bit i = the block at frame
i << k.  Summary level l has bit j set exactly when word j of level l-1
is not zero."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

MAX_ORDER = 10                   # BUDDY_MAX_ORDER
ORDERS = MAX_ORDER + 1           # BUDDY_ORDERS
SMALL_ORDERS = 5                 # orders 0..4: one map bit a frame
MAP_LEVELS = 5                   # BUDDY_MAP_LEVELS
WORD = 32
DIRECT_MAP_PFN = 0x30000000 >> 12  # the direct-map limit: zones split there
FRAME_CONTIG = 0x20              # frame_info.flags: head of a kmalloc_contig block
NONE = 0xFFFFFFFF


def low_bits(n: int) -> int:
    return (1 << n) - 1 if n > 0 else 0


def lowest_bit(x: int) -> int:
    """Index of the lowest set bit (x != 0)."""
    return (x & -x).bit_length() - 1


def _lsb_first(x: int, n: int) -> str:
    """Bits 0 .. n-1 of x as a string, bit 0 first."""
    return format(x & low_bits(n), "b").zfill(n)[::-1] if n > 0 else ""


def compress(x: int, step: int, n: int) -> int:
    """Bit i of the result = bit i * step of x, for i * step < n (string
    slicing: C speed, whatever the number of set bits)."""
    picked = _lsb_first(x, n)[::step]
    return int(picked[::-1], 2) if picked else 0


def spread(x: int, step: int) -> int:
    """The inverse of :func:`compress`: bit i of x moves to bit i * step."""
    out = 0
    while x:
        i = lowest_bit(x)
        out |= 1 << (i * step)
        x &= x - 1
    return out


@lru_cache(maxsize=64)
def repeat(pattern: int, width: int, n: int) -> int:
    """``pattern`` (``width`` bits) repeated over n bits."""
    reps = -(-n // width)
    return int(format(pattern, "b").zfill(width) * reps, 2) & low_bits(n) if reps else 0


def nonzero_words(x: int, words: int) -> int:
    """Bit j set exactly when 32-bit word j of x is not zero (j < words)."""
    t = x & low_bits(words * WORD)
    for s in (16, 8, 4, 2, 1):  # bit 32j ends up the OR of word j's 32 bits
        t |= t >> s
    return compress(t, WORD, words * WORD)


def summary_levels(level0: int, words: int) -> list[tuple[int, int]]:
    """(value, words) of level 0 and every summary level above it, up to
    the first level of one word."""
    out = [(level0, words)]
    while words > 1:
        level0 = nonzero_words(level0, words)
        words = -(-words // WORD)
        out.append((level0, words))
    return out


# -- zones -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Zones:
    """Which zone each of ``frames`` frames is in, as runs: (first frame,
    zone), ascending, the first at frame 0.  The kernel's zone of a frame is
    node * 2 + (frame >= the direct-map limit)."""

    frames: int
    runs: tuple[tuple[int, int], ...]
    _masks: dict[int, int] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def single(cls, frames: int, zone: int = 0) -> Zones:
        return cls(frames, ((0, zone),))

    @classmethod
    def from_function(cls, frames: int, zone_of: Callable[[int], int]) -> Zones:
        """From a function of the frame number (for small hand-made cases)."""
        runs: list[tuple[int, int]] = []
        for f in range(frames):
            z = zone_of(f)
            if not runs or runs[-1][1] != z:
                runs.append((f, z))
        return cls(frames, tuple(runs) or ((0, 0),))

    @classmethod
    def from_nodes(cls, nodes: bytes, frames: int) -> Zones:
        """From each frame's node (the frame table's node bytes; frames past
        them are node 0), split at the direct-map limit."""
        nodes = nodes[:frames].ljust(frames, b"\0")
        runs: list[tuple[int, int]] = []
        for m in re.finditer(rb"(.)\1*", nodes, re.S):
            for start, end in ((m.start(), min(m.end(), DIRECT_MAP_PFN)),
                               (max(m.start(), DIRECT_MAP_PFN), m.end())):
                if start < end:
                    z = nodes[start] * 2 + (start >= DIRECT_MAP_PFN)
                    if not runs or runs[-1][1] != z:
                        runs.append((start, z))
        return cls(frames, tuple(runs) or ((0, 0),))

    def zone_of(self, pfn: int) -> int:
        return self.runs[bisect_right(self.runs, (pfn, 1 << 30)) - 1][1]

    def ends(self) -> list[tuple[int, int, int]]:
        """(first frame, end, zone) of every run."""
        starts = [s for s, _ in self.runs] + [self.frames]
        return [(s, starts[i + 1], z) for i, (s, z) in enumerate(self.runs)]

    @property
    def starts(self) -> int:
        """Bit f set: frame f (0 < f < frames) is in another zone than f - 1."""
        out = 0
        for s, _ in self.runs[1:]:
            out |= 1 << s
        return out

    def mask(self, zone: int) -> int:
        """Bit f set: frame f is in ``zone``."""
        if zone not in self._masks:
            m = 0
            for s, e, z in self.ends():
                if z == zone:
                    m |= low_bits(e - s) << s
            self._masks[zone] = m
        return self._masks[zone]

    def present(self) -> list[int]:
        return sorted({z for _, z in self.runs})


# -- the maximal blocks ------------------------------------------------------------------------

def maximal_blocks(free: int, zones: Zones) -> list[int]:
    """Per order k: bit f set exactly when a maximal free block of order k
    starts at frame f.  ``free``: bit f = frame f is free (only frames below
    zones.frames count).

    P_0 = the free frames; P_{k+1} = the heads of P_k whose upper half is in
    P_k too, aligned to 2^(k+1), with no zone starting at the upper half;
    maximal_k = P_k minus the halves of P_{k+1}."""
    n = zones.frames
    cuts = zones.starts
    p = free & low_bits(n)
    out = []
    for k in range(ORDERS):
        half = 1 << k
        if k == MAX_ORDER:
            out.append(p)
            break
        aligned = repeat(1, 2 * half, n)
        up = p & (p >> half) & aligned & ~(cuts >> half)
        out.append(p & ~(up | up << half))
        p = up
    return out


def block_order_at(blocks: list[int], pfn: int) -> tuple[int, int] | None:
    """(head, order) of the maximal block holding frame pfn, None if none
    does (the frame is used or past the frames)."""
    for k, b in enumerate(blocks):
        head = pfn & ~low_bits(k)
        if b >> head & 1:
            return head, k
    return None


def free_blocks_per_order(blocks: list[int]) -> list[int]:
    """How many maximal blocks of each order (all zones): what
    buddy_free_blocks(k) returns."""
    return [b.bit_count() for b in blocks]


# -- the hint word's exempt blocks (DESIGN §2.2) ----------------------------------------------

def cap_of_word(zones: Zones, w: int) -> int:
    """The largest order (5..10) of an aligned block holding word w that lies
    in the covered words and in one zone; 4 when a zone starts inside w."""
    words = -(-zones.frames // WORD)
    cuts = zones.starts
    if cuts >> (w * WORD + 1) & low_bits(WORD - 1):
        return 4
    j = SMALL_ORDERS
    while j < MAX_ORDER:
        size = 2 << j
        base = (w * WORD) & ~(size - 1)
        if base + size > words * WORD or cuts >> (base + 1) & low_bits(size - 1):
            break
        j += 1
    return j


def front_head(w: int, i: int) -> int:
    """B_i(w): the first frame of the buddy of the aligned 2^i block holding word w."""
    return ((w * WORD) >> i ^ 1) << i


@dataclass(frozen=True)
class Exempt:
    """What the maps leave out for hint word ``hint``: its small blocks (all
    of order <= 4 inside it), its own block (hint_order: W empty, its
    maximal block of order >= 5 starts at W's first frame; else 0) and its
    front (bit i of front_mask: B_i(W) is a maximal block of order i, for
    5 <= i < the cap)."""

    hint: int
    hint_order: int
    front_mask: int
    cap: int

    def blocks(self) -> list[tuple[int, int]]:
        """(head, order) of the own and front blocks."""
        out = [(front_head(self.hint, i), i) for i in range(SMALL_ORDERS, ORDERS)
               if self.front_mask >> i & 1]
        if self.hint_order:
            out.append((self.hint * WORD, self.hint_order))
        return sorted(out)


def exempt_of(blocks: list[int], zones: Zones, hint: int) -> Exempt:
    """The exempt blocks the bitmap implies for hint word ``hint``."""
    if hint >= -(-zones.frames // WORD):
        return Exempt(hint, 0, 0, 0)
    head = hint * WORD
    own = next((k for k in range(SMALL_ORDERS, ORDERS) if blocks[k] >> head & 1), 0)
    cap = cap_of_word(zones, hint)
    front = 0
    for i in range(SMALL_ORDERS, cap):
        if blocks[i] >> front_head(hint, i) & 1:
            front |= 1 << i
    return Exempt(hint, own, front, cap)


def expected_maps(blocks: list[int], ex: Exempt, frames: int) -> list[int]:
    """Each order's map as the firmware must hold it: the maximal blocks
    minus the exempt ones, in the map's own indexing (small orders one bit
    a frame, large ones one bit a block)."""
    out = []
    in_hint = low_bits(WORD) << (ex.hint * WORD) if ex.hint < -(-frames // WORD) else 0
    out_blocks = 0
    for head, _ in ex.blocks():
        out_blocks |= 1 << head
    for k, b in enumerate(blocks):
        if k < SMALL_ORDERS:
            out.append(b & ~in_hint)
        else:
            out.append(compress(b & ~out_blocks, 1 << k, frames))
    return out


# -- the maps, decoded --------------------------------------------------------------------------

@dataclass(frozen=True)
class OrderMap:
    """One order's map and its summary levels as read from guest RAM: each
    level a little-endian big int of ``words[l]`` 32-bit words."""

    levels: tuple[int, ...]
    words: tuple[int, ...]

    @property
    def map(self) -> int:
        return self.levels[0] if self.levels else 0


def decode_maps(area: bytes, area_start: int, pointers: list[list[int]],
                words: list[list[int]], levels: list[int]) -> tuple[list[OrderMap], list[str]]:
    """The maps of every order from the map area's bytes (``area``, read at
    kernel address ``area_start``): ``pointers[k][l]`` is where order k's
    level l is, ``words[k][l]`` its words, ``levels[k]`` the levels in use.
    A level outside the area, or a level count past BUDDY_MAP_LEVELS, is a
    problem (named) and decodes as empty."""
    out: list[OrderMap] = []
    problems: list[str] = []
    for k in range(ORDERS):
        count = levels[k]
        if not 1 <= count <= len(pointers[k]):
            problems.append(f"map {k}: buddy_map_levels says {count} levels, there are 1.."
                            f"{len(pointers[k])}")
            count = max(0, min(count, len(pointers[k])))
        values, sizes = [], []
        for lv in range(count):
            at, n = pointers[k][lv] - area_start, words[k][lv]
            if at < 0 or at + 4 * n > len(area):
                problems.append(f"map {k} level {lv}: {n} words at {pointers[k][lv]:#x} are "
                                f"outside the map area {area_start:#x}+{len(area):#x}")
                values.append(0)
            else:
                values.append(int.from_bytes(area[at:at + 4 * n], "little"))
            sizes.append(n)
        out.append(OrderMap(tuple(values), tuple(sizes)))
    return out, problems
