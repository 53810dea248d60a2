"""``mm heap``: the kernel heap's counters, its live blocks and who allocated
them, and the kernel's own consistency check.

The blocks are found the way the heap itself finds them (firmware/mm/
slab.c, heap_large.c): slabs are the 16 KiB chunks marked in
``slab_chunk_used``, each a ``struct slab`` header and then slots of
``slab_classes[class_index].slot_size`` bytes; the large region is a chain of
blocks from LARGE_BASE up to ``top``, each a 16-byte boundary tag.  Every
block starts with a ``struct block_header`` {canary, size, caller, epoch}
whose canary is tied to the payload address, so a live block cannot be
mistaken for a free or stale one.

Every number comes from the kernel being debugged, never a copy: the bases,
flags and canaries from the ``harness_const_*`` variables heap_large.c
exports from its macros (which the debug info cannot carry), the header and
tag sizes from ``sizeof`` of the structs.
"""

from __future__ import annotations

import struct

import gdb

from harness.decode.text import table
from harness.gdbcmds.common import (
    CommandError,
    Subcommand,
    count_of,
    enum_names,
    firmware_const,
    human,
    kernel_mode,
    read,
    read_u32s,
    symbolize,
    u32,
    value,
    write,
)

ROW_LIMIT = 100


class Layout:
    """The heap's constants as the kernel has them (harness_const_NAME as the
    attribute name.lower()), plus ``header`` and ``tag``, the sizes of struct
    block_header and struct tag."""

    NAMES = ("SLAB_BASE", "SLAB_CHUNK", "SLAB_MAGIC", "LARGE_BASE", "LARGE_MIN_BLOCK",
             "LARGE_TAG_USED", "LARGE_TAG_FLAGS", "CANARY_LIVE", "CANARY_LIVE_DEBUG",
             "CANARY_QUARANTINED")

    def __init__(self) -> None:
        c = {name: firmware_const(name) for name in self.NAMES}
        self.slab_base, self.slab_chunk, self.slab_magic = (
            c["SLAB_BASE"], c["SLAB_CHUNK"], c["SLAB_MAGIC"])
        self.large_base, self.large_min_block = c["LARGE_BASE"], c["LARGE_MIN_BLOCK"]
        self.large_tag_used, self.large_tag_flags = c["LARGE_TAG_USED"], c["LARGE_TAG_FLAGS"]
        self.canary_live, self.canary_live_debug, self.canary_quarantined = (
            c["CANARY_LIVE"], c["CANARY_LIVE_DEBUG"], c["CANARY_QUARANTINED"])
        self.header = int(gdb.lookup_type("struct block_header").sizeof)
        self.tag = int(gdb.lookup_type("struct tag").sizeof)

    def block_state(self, canary: int, payload: int) -> str | None:
        if canary in (self.canary_live ^ payload, self.canary_live_debug ^ payload):
            return "live"
        if canary == self.canary_quarantined ^ payload:
            return "quarantined"
        return None


def slab_blocks(heap: Layout, problems: list[str]) -> tuple[list[dict], int]:
    """Live and quarantined slots of every slab, and the number of slabs."""
    words = read_u32s(u32("&slab_chunk_used"), count_of("slab_chunk_used"))
    chunks = [w * 32 + b for w, word in enumerate(words) for b in range(32) if word >> b & 1]
    header_size = int(gdb.lookup_type("struct slab").sizeof)
    classes = value("slab_classes")
    blocks = []
    for chunk in chunks:
        base = heap.slab_base + chunk * heap.slab_chunk
        slab = value(f"*(struct slab *){base:#x}")
        if u32(slab["magic"]) != heap.slab_magic ^ base:
            problems.append(f"slab {base:#010x}: bad magic {u32(slab['magic']):#010x}")
            continue
        index, count = u32(slab["class_index"]), u32(slab["slot_count"])
        slot_size = u32(classes[index]["slot_size"])
        try:
            data = read(base, header_size + count * slot_size)
        except gdb.MemoryError:
            problems.append(f"slab {base:#010x}: its {count} slots are not all mapped")
            continue
        for i in range(count):
            off = header_size + i * slot_size
            canary, size, caller, epoch = struct.unpack_from("<4I", data, off)
            state = heap.block_state(canary, base + off + heap.header)
            if state:
                blocks.append(dict(addr=base + off + heap.header, size=size, caller=caller,
                                   epoch=epoch, state=state,
                                   where=f"slab {slot_size - heap.header}"))
    return blocks, len(chunks)


def large_blocks(heap: Layout, problems: list[str]) -> tuple[list[dict], int, int]:
    """Used blocks of the large region, its total block count and its top."""
    top = u32("'heap_large.c'::top")
    blocks, count, t = [], 0, heap.large_base
    while t < top:
        try:
            tag = read(t, heap.tag + heap.header)
        except gdb.MemoryError:
            problems.append(f"large block {t:#010x}: its tag is not mapped; walk stopped")
            break
        size_flags = struct.unpack_from("<I", tag)[0]  # struct tag's first field
        canary, size, caller, epoch = struct.unpack_from("<4I", tag, heap.tag)
        block = size_flags & ~heap.large_tag_flags
        if block < heap.large_min_block or block % 16 or t + block > top:
            problems.append(f"large block {t:#010x}: size {block:#x} breaks the chain "
                            f"(top {top:#010x}); walk stopped")
            break
        count += 1
        payload = t + heap.tag + heap.header
        state = heap.block_state(canary, payload) if size_flags & heap.large_tag_used else None
        if state:
            blocks.append(dict(addr=payload, size=size, caller=caller, epoch=epoch,
                               state=state, where=f"large {human(block)}"))
        t += block
    return blocks, count, top


def run_heap_check() -> str:
    """heap_check() called in the kernel through GDB; it needs kernel mode."""
    if not kernel_mode():
        return ("heap_check(): not run: the CPU is in user mode ($cs & 3 != 0); "
                "stop in the kernel (e.g. at kernel_ready or a syscall) to run it")
    try:
        rc = int(gdb.parse_and_eval("heap_check()"))
    except gdb.error as exc:
        return f"heap_check(): could not be called: {exc}"
    if rc == 0:
        return "heap_check(): OK (0)"
    return (f"heap_check(): FAILED ({rc}): the serial log has the "
            "'HEAP check=fail what=... addr=...' record")


class HeapCommand(Subcommand):
    """Show the kernel heap: mm heap [all]

    The counters of heap_stats that are always current (bytes mapped and the
    peak, failed allocations, quarantined blocks, errors by kind: double
    frees, bad pointers, red zones, corrupt headers, use after free); then
    every live block, found by walking the slabs and the large region as the
    heap does, with its size, where it lives, its leak epoch and the caller
    that allocated it (symbolized); quarantined blocks are listed too.
    Finally heap_check(), the kernel's own consistency walk, called through
    GDB when the CPU is stopped in kernel mode (outside the heap's own code:
    stopped inside kmalloc it would see a block half made).  Long lists stop
    after a screenful; "mm heap all" shows every block."""

    name = "heap"
    usage = "mm heap [all]"

    def run(self, argv: list[str]) -> None:
        if argv not in ([], ["all"]):
            raise CommandError(f"unexpected argument {' '.join(argv)!r}")
        stats = value("heap_stats")
        errors = enum_names("heap_error", "HEAP_ERR_")
        counts = stats["errors"]
        write(f"heap (heap_stats): mapped {human(u32(stats['bytes_mapped']))} "
              f"(peak {human(u32(stats['peak_mapped']))}), "
              f"failed allocations {u32(stats['failed_allocations'])}, "
              f"quarantined {u32(stats['quarantined'])}")
        write("errors: " + ", ".join(f"{name} {u32(counts[i])}"
                                     for i, name in sorted(errors.items()) if name != "count"))
        caller = u32(stats["last_error_caller"])
        if caller:
            write(f"last error caller: {caller:#010x} {symbolize(caller, return_address=True)}")

        problems: list[str] = []
        heap = Layout()
        small, slabs = slab_blocks(heap, problems)
        large, large_count, top = large_blocks(heap, problems)
        write(f"slabs: {slabs} in use ({human(heap.slab_chunk)} each from "
              f"{heap.slab_base:#010x}); large region "
              f"{heap.large_base:#010x}-{top:#010x}: {large_count} blocks")
        blocks = small + large
        live = [b for b in blocks if b["state"] == "live"]
        write(f"live blocks: {len(live)}, {sum(b['size'] for b in live)} bytes requested"
              + (f"; {len(blocks) - len(live)} quarantined" if len(blocks) > len(live) else ""))
        rows = [[f"{b['addr']:#010x}", str(b["size"]), b["where"], b["state"], str(b["epoch"]),
                 f"{b['caller']:#010x} {symbolize(b['caller'], return_address=True)}"]
                for b in (blocks if argv == ["all"] else blocks[:ROW_LIMIT])]
        if rows:
            write(table(["address", "size", "in", "state", "epoch", "caller"], rows,
                        left=(2, 3, 5)))
        if len(rows) < len(blocks):
            write(f"... {len(blocks) - len(rows)} more blocks ('mm heap all' lists them all)")
        for problem in problems:
            write(f"PROBLEM: {problem}")
        write(run_heap_check())


COMMANDS = (HeapCommand,)
