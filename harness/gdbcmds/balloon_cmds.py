"""``mm balloon``: the virtio balloon as the kernel holds it, cross-checked.

The counters come from the driver (dev/balloon.h's balloon_stats) and the
transport (dev/virtio.h's virtio_stats); the
frames from the frame table (mm/frame.h: every frame flagged FRAME_BALLOON),
each of which must have exactly the balloon's one reference and be used in
the PMM's bitmap, and whose number must be the driver's ``actual``.  The
queues (dev/virtio.h's struct virtq) show how far driver and device got.
"""

from __future__ import annotations

from harness.decode import frames
from harness.decode.bitmap import Bitmap
from harness.gdbcmds.common import (
    PAGE_SIZE,
    CommandError,
    Subcommand,
    human,
    read,
    symbol_address,
    u32,
    value,
    write,
)

QUEUE_NAMES = ("inflate", "deflate", "stats")
ROW_LIMIT = 8


def frame_table() -> frames.FrameTable:
    """The kernel's frame table (mm/frame.h), read from guest RAM."""
    count = u32("frame_table_frames")
    return frames.FrameTable(read(u32("frame_table"), count * frames.ENTRY_BYTES))


def balloon_frames(table: frames.FrameTable) -> list[int]:
    """Frame numbers flagged FRAME_BALLOON: what the balloon holds, counted
    in the frame table rather than taken from the driver's counter."""
    return [pfn for pfn, info in table.held() if info.flags & frames.FRAME_BALLOON]


def balloon_problems(table: frames.FrameTable, used: Bitmap, actual: int) -> list[str]:
    """What is wrong with the balloon's frames: a count other than ``actual``,
    a frame with other than one reference or free in the PMM."""
    held = [(pfn, table[pfn]) for pfn in balloon_frames(table)]
    out = []
    if len(held) != actual:
        out.append(f"{len(held)} frames have FRAME_BALLOON, the driver counts {actual}")
    for pfn, info in held:
        if info.refs != 1:
            out.append(f"frame {pfn << 12:#x}: FRAME_BALLOON with {info} (the balloon's one "
                       "reference expected)")
        if not (pfn < used.count and used[pfn]):
            out.append(f"frame {pfn << 12:#x}: FRAME_BALLOON but free in the PMM's bitmap")
    return out


class BalloonCommand(Subcommand):
    """Show the virtio balloon: mm balloon

    Whether the device is there, the host's target and the frames the
    balloon holds (frames and MiB), frames inflated and deflated in total,
    buffers sent, target changes carried out, interrupts, stats updates,
    inflations stopped short of memory and errors; the transport's counters
    (virtio_stats); each queue's size and indexes (the ring's avail index
    and the driver's own copy); then the audit: the frames flagged FRAME_BALLOON in the frame
    table are exactly `actual` many, each with one reference, each used in
    the PMM's bitmap."""

    name = "balloon"
    usage = "mm balloon"

    def run(self, argv: list[str]) -> None:
        if argv:
            raise CommandError("mm balloon takes no arguments")
        if symbol_address("balloon_stats") is None:
            raise CommandError("this kernel has no balloon driver (no balloon_stats)")
        s = value("balloon_stats")
        f = {field.name: u32(s[field.name]) for field in s.type.strip_typedefs().fields()}
        if not f["present"]:
            write("balloon: no device (start QEMU with -device virtio-balloon-pci)")
            return
        write(f"balloon: target {f['target']} frames ({human(f['target'] * PAGE_SIZE)}), "
              f"holds {f['actual']} frames ({human(f['actual'] * PAGE_SIZE)})")
        write(f"  inflated {f['inflated']}, deflated {f['deflated']}, buffers {f['batches']}, "
              f"changes {f['changes']}, short of memory {f['short_of_memory']}, "
              f"irqs {f['irqs']}, stats updates {f['stats_updates']}, errors {f['errors']}")
        v = value("virtio_stats")
        write(f"  virtio: notifies {u32(v['notifies'])}, completed {u32(v['completed'])}, "
              f"timeouts {u32(v['timeouts'])}, errors {u32(v['errors'])}")
        queues = value("'balloon.c'::queues")
        for i, name in enumerate(QUEUE_NAMES):
            q = queues[i]
            size = u32(q["size"])
            if not size:
                continue
            avail = u32(q["avail"].dereference()["idx"]) & 0xFFFF
            used = u32(q["used"].dereference()["idx"]) & 0xFFFF
            mine = u32(q["avail_idx"]) & 0xFFFF
            ring = f"avail {avail}" if avail == mine else f"avail {avail} (DRIVER'S COPY {mine})"
            write(f"  queue {name}: size {size} at {u32(q['phys']):#x}, {ring}, "
                  f"used {used}, consumed {u32(q['last_used'])}")
        table = frame_table()
        n = u32("pmm_stats.frame_count")
        used_bits = Bitmap(read(u32("pmm_bitmap"), (n + 31) // 32 * 4), n)
        held = balloon_frames(table)
        shown = ", ".join(f"{pfn << 12:#x}" for pfn in held[:ROW_LIMIT])
        more = f" ... ({len(held) - ROW_LIMIT} more)" if len(held) > ROW_LIMIT else ""
        write(f"frames with FRAME_BALLOON: {len(held)}" + (f": {shown}{more}" if held else ""))
        problems = balloon_problems(table, used_bits, f["actual"])
        write(f"audit: {'consistent' if not problems else f'{len(problems)} problems'}")
        for p in problems:
            write(f"problem: {p}")


COMMANDS = (BalloonCommand,)
