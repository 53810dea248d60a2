"""``mm pmm``: the physical memory manager's counters and its frame bitmaps.

The totals are the kernel's own counters (``pmm_stats``); then the buddy
blocks per order (the maps' count beside the bitmap's own maximal blocks,
and ``buddy_stats.failures``) and
the zones per NUMA node (``pmm_node_stats``); the ranges are
decoded from the bitmaps themselves (``pmm_bitmap``: frame in use,
``pmm_reserved``: frame never handed out) with :class:`harness.decode.bitmap.Bitmap`,
the helper the PMM tests use, so a counter that drifted from the bitmap
shows up as a disagreement between the two halves of the output.
"""

from __future__ import annotations

import struct

from harness.decode import buddy
from harness.decode.bitmap import Bitmap
from harness.decode.text import table
from harness.gdbcmds.balloon_cmds import balloon_frames, frame_table
from harness.gdbcmds.common import (
    PAGE_SIZE,
    CommandError,
    Subcommand,
    firmware_base,
    human,
    read,
    symbol_address,
    u32,
    value,
    write,
)

ROW_LIMIT = 60


def landmarks() -> list[tuple[int, int, str]]:
    """Physical ranges with a known purpose, to name what a used range holds:
    the first MiB, the kernel image, the modules, the PMM's bitmaps."""
    marks = [(0, 0x100000, "first MiB")]
    start, end = symbol_address("__kernel_start"), symbol_address("__kernel_end")
    if start is not None and end is not None:
        marks.append((start - firmware_base(), end - firmware_base(), "kernel image"))
    modules = value("boot_info.modules")
    for i in range(u32("boot_info.module_count")):
        m = modules[i]
        name = m["cmdline"].string(errors="replace").split(" ", 1)[0].rsplit("/", 1)[-1]
        marks.append((u32(m["start"]), u32(m["end"]), f"module {name}"))
    arena = u32("boot_info.arena_start"), u32("boot_info.arena_end")
    if arena[1] > arena[0]:
        marks.append((*arena, "module table"))
    bitmap = u32("pmm_bitmap_phys")
    marks.append((bitmap, bitmap + u32("pmm_bitmap_bytes"), "PMM bitmaps"))
    return marks


def kernel_page_tables() -> list[int]:
    """Frames of the kernel's page tables: the PDEs of the kernel's directory
    from its KERNEL_BASE up (768-1023), shared by every address space."""
    directory = symbol_address("kernel_page_directory")
    if directory is None:
        return []
    first = firmware_base() >> 22
    pdes = struct.unpack(f"<{1024 - first}I", read(directory + first * 4, (1024 - first) * 4))
    return sorted(pde & ~0xFFF for pde in pdes if pde & 1)


def holds(start: int, stop: int, marks: list[tuple[int, int, str]], tables: list[int]) -> str:
    """What is known to live in [start, stop): many modules are summed up."""
    names = [name for a, b, name in marks if a < stop and start < b]
    modules = [n for n in names if n.startswith("module ")]
    if len(modules) > 2:
        first = names.index(modules[0])
        names = [n for n in names if n not in modules]
        names.insert(first, f"{len(modules)} modules ({modules[0][7:]} .. {modules[-1][7:]})")
    n = sum(1 for t in tables if start <= t < stop)
    if n:
        names.append(f"{n} kernel page table{'s' if n > 1 else ''}")
    return ", ".join(names)


def used_ranges(used: Bitmap, reserved: Bitmap) -> list[tuple[int, int, bool]]:
    """(first frame, end frame, reserved?) for every run of used frames, split
    where a run changes between reserved and merely allocated."""
    n = used.count
    both = used.value & reserved.value
    allocated = used.value & ~reserved.value
    out = [(s, e, True) for s, e in Bitmap(both.to_bytes((n + 7) // 8, "little"), n).runs(True)]
    out += [(s, e, False)
            for s, e in Bitmap(allocated.to_bytes((n + 7) // 8, "little"), n).runs(True)]
    return sorted(out)


def map_counts(frames: int, blocks: list[int]) -> list[int]:
    """Free blocks per order as the kernel's maps hold them: each map's set
    bits, plus the hint word's exempt blocks (its small blocks, read from
    the bitmap word; its own block, buddy_hint_order; its front,
    buddy_front_mask) -- what buddy_free_blocks(k) adds up."""
    counts = []
    for k in range(buddy.ORDERS):
        words = u32(value(f"buddy_map_words[{k}][0]"))
        counts.append(int.from_bytes(read(u32(value(f"buddy_map[{k}][0]")), 4 * words),
                                     "little").bit_count())
    hint, order, front = u32("pmm_hint"), u32("buddy_hint_order"), u32("buddy_front_mask")
    if hint < -(-frames // buddy.WORD):
        for k in range(buddy.SMALL_ORDERS):  # the word's blocks, as the bitmap has them
            counts[k] += (blocks[k] >> (hint * buddy.WORD) & buddy.low_bits(buddy.WORD)).bit_count()
        if order:
            counts[order] += 1
        for k in range(buddy.SMALL_ORDERS, buddy.ORDERS):
            counts[k] += front >> k & 1
    return counts


def buddy_lines() -> list[str]:
    """The free blocks per order (the maps', and the bitmap's own blocks
    beside them) and the nodes' zones; nothing for a kernel from before the
    buddy maps."""
    if symbol_address("buddy_map") is None:
        return []
    frames = u32("buddy_frame_count")
    used = int.from_bytes(read(u32("pmm_bitmap"), -(-frames // buddy.WORD) * 4), "little")
    free = ~used & buddy.low_bits(frames)
    zones = buddy.Zones.from_nodes(frame_table().data[3::4], frames)
    blocks = buddy.maximal_blocks(free, zones)
    derived = buddy.free_blocks_per_order(blocks)
    counts = map_counts(frames, blocks)
    failures = value("buddy_stats.failures")
    rows = [[str(k), human(PAGE_SIZE << k), str(counts[k]), str(counts[k] << k),
             str(derived[k]), str(u32(failures[k]))] for k in range(buddy.ORDERS)]
    agree = "agree" if counts == derived else "DISAGREE (see the audit)"
    out = ["\nbuddy free blocks, all zones (maps: buddy_map + the hint word's exempt blocks;"
           " bitmap: its maximal blocks):",
           table(["order", "block", "free blocks", "frames", "bitmap", "failures"], rows),
           f"the maps and the bitmap {agree}; maps rebuilt after a stale block (repairs): "
           f"{u32('buddy_stats.repairs')}"]
    nodes = value("pmm_node_stats")
    count = u32("pmm_node_count")
    rows = []
    for n in range(count):
        node = nodes[n]
        # One node: its free_frames is not kept, pmm_stats' is the node's.
        free_frames = u32(node["free_frames"]) if count > 1 else u32("pmm_stats.free_frames")
        rows.append([str(n), f"{u32(node['start']) * PAGE_SIZE:#x}",
                     f"{u32(node['end']) * PAGE_SIZE:#x}", str(u32(node["frames"])),
                     str(free_frames), str(u32(node["allocations"])),
                     str(u32(node["fallbacks"]))])
    out += ["\nnodes (pmm_node_stats; zones: each node below the direct-map limit, above it):",
            table(["node", "start", "end", "frames", "free", "allocations", "fallbacks"], rows)]
    return out


CACHE_STATS = ("allocs", "frees", "refills", "refilled", "drains", "drained")


def cache_lines() -> list[str]:
    """Every CPU's frame cache (firmware/include/mm/pcp.h: cpus[i].frames):
    the frames it holds (used in the bitmap, free to the audits) and its
    statistics; CPUs whose cache never saw a frame are left out."""
    if symbol_address("pcp_enabled") is None:
        return []  # a kernel from before the caches
    cpus = value("cpus")
    low, high = cpus.type.strip_typedefs().range()
    rows, cached = [], 0
    for i in range(low, high + 1):
        frames = cpus[i]["frames"]
        count, stats = u32(frames["count"]), [u32(frames["stats"][k]) for k in CACHE_STATS]
        cached += count
        if count or any(stats):
            top = f"{u32(frames['pfns'][count - 1]) * PAGE_SIZE:#010x}" if count else "-"
            rows.append([str(i), str(count), top, *map(str, stats)])
    switch = "on" if int(value("pcp_enabled")) else "off"
    out = [f"\nper-CPU frame caches (pcp={switch}; {cached} frames cached: used in the bitmap, "
           "nobody's)"]
    if rows:
        out.append(table(["cpu", "cached", "top", *CACHE_STATS], rows))
    return out


class PmmCommand(Subcommand):
    """Show physical memory: mm pmm [all]

    Totals from the kernel's pmm_stats, in frames, KiB and MiB: the frames the
    bitmap covers, usable (RAM the loader reported available), reserved (never
    handed out: the first MiB, holes, the kernel, modules, the bitmaps), free,
    and used; the failed allocations and refused frees.  The buddy blocks: per
    order, the free blocks the maps hold (and the frames in them), the
    maximal blocks the bitmap has (they agree unless something is broken)
    and failed requests; per NUMA node, its frames, free frames, user frames
    handed out and fallbacks; per CPU, the frames its frame cache holds (the
    next one it hands out on top) and its counters.  Then the used frames
    as ranges decoded from the bitmap (pmm_bitmap), each marked "reserved"
    (pmm_reserved set) or "allocated", with what is known to live there.
    Long lists stop after a screenful; "mm pmm all" shows every range."""

    name = "pmm"
    usage = "mm pmm [all]"

    def run(self, argv: list[str]) -> None:
        if argv not in ([], ["all"]):
            raise CommandError(f"unexpected argument {' '.join(argv)!r}")
        stats = value("pmm_stats")
        s = {f.name: u32(stats[f.name]) for f in stats.type.strip_typedefs().fields()}
        frames = s["frame_count"]
        if frames == 0:
            write("the PMM is not initialised yet (pmm_stats.frame_count is 0): "
                  "stop after memory_init, e.g. at kernel_ready")
            return
        used = frames - s["free_frames"]
        rows = [[name, str(count), f"{count * 4}", f"{count * 4 / 1024:.1f}"] for name, count in (
            ("total", frames), ("usable", s["usable_frames"]),
            ("reserved", s["reserved_frames"]), ("free", s["free_frames"]), ("used", used))]
        balloon = None
        if symbol_address("balloon_stats") is not None:  # frames the host took (dev/balloon.h)
            # Counted in the frame table, not taken from the driver.
            balloon = len(balloon_frames(frame_table()))
            rows.append(["balloon", str(balloon), f"{balloon * 4}", f"{balloon * 4 / 1024:.1f}"])
        write("physical memory (pmm_stats; balloon: frames flagged FRAME_BALLOON):")
        write(table(["frames", "count", "KiB", "MiB"], rows, left=(0,)))
        if balloon is not None:
            actual = u32("balloon_stats.actual")
            write(f"the driver's balloon count (balloon_stats.actual): {actual}"
                  + ("" if actual == balloon else " DISAGREES with the frame table"))
        write(f"failed allocations {s['failed_allocations']}; refused frees: "
              f"double {s['double_frees']}, reserved {s['reserved_frees']}, "
              f"unaligned {s['unaligned_frees']}, out of range {s['out_of_range_frees']}")
        for line in buddy_lines() + cache_lines():
            write(line)

        size = (frames + 31) // 32 * 4
        in_use = Bitmap(read(u32("pmm_bitmap"), size), frames)
        reserved = Bitmap(read(u32("pmm_reserved"), size), frames)
        agree = "agrees" if in_use.set_count() == used else "DISAGREES with pmm_stats"
        write(f"\nused frames in pmm_bitmap ({u32('pmm_bitmap'):#010x}): "
              f"{in_use.set_count()} set bits ({agree}), {reserved.set_count()} reserved")
        marks, tables = landmarks(), kernel_page_tables()
        rows = []
        for first, end, is_reserved in used_ranges(in_use, reserved):
            start, stop = first * PAGE_SIZE, end * PAGE_SIZE
            rows.append([f"{start:#010x}", f"{stop:#010x}", str(end - first),
                         human(stop - start), "reserved" if is_reserved else "allocated",
                         holds(start, stop, marks, tables)])
        shown = rows if argv == ["all"] else rows[:ROW_LIMIT]
        write(table(["start", "end", "frames", "size", "kind", "holds"], shown, left=(4, 5)))
        if len(shown) < len(rows):
            write(f"... {len(rows) - len(shown)} more ranges ('mm pmm all' lists them all)")


COMMANDS = (PmmCommand,)
