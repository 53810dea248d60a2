"""``mm pools``: the kernel's memory pools (mm/pool.h) and their reserves.

One row per pool from ``pool_table``: object size, the reserve's target and
level, objects handed out, how often the reserve served, failures, refills,
top-ups and refused frees.  Then each reserve is followed through guest
memory (harness.decode.pools, the walker the tests use too) and
the chain's length is checked against the pool's own reserve_level, so a
counter that drifted from the chain shows as a problem line.  The quick-fit
lists of the large heap (``heap_quick``) follow: their block sizes, blocks
parked, hits and misses.
"""

from __future__ import annotations

import struct

from harness.decode.pools import reserve_chain
from harness.decode.text import table
from harness.gdbcmds.common import (
    CommandError,
    Subcommand,
    c_string,
    human,
    read,
    u32,
    value,
    write,
)


def read_word(addr: int) -> int:
    """One little-endian word of the kernel's memory, through GDB."""
    return struct.unpack("<I", read(addr, 4))[0]


class PoolsCommand(Subcommand):
    """Show the memory pools: mm pools

    Every pool in pool_table: object size, reserve (level / target), objects
    in use, reserve hits, failures, refills (frees into the reserve), top-ups
    (allocations that refilled it), refused (foreign) frees; each
    reserve followed through memory and checked against its level; then the
    large heap's quick-fit lists (block size, blocks parked, frees seen) and
    their hits, misses and flushes."""

    name = "pools"
    usage = "mm pools"

    def run(self, argv: list[str]) -> None:
        if argv:
            raise CommandError("mm pools takes no arguments")
        pools = value("pool_table")
        count = u32("pool_count")
        write(f"pools: {count}")
        rows, problems, chains = [], [], []
        for i in range(count):
            p = pools[i]
            f = {name: u32(p[name]) for name in (
                "object_size", "min_objects", "reserve_level", "in_use", "reserve_hits",
                "failures", "refills", "top_ups", "foreign_frees", "reserve")}
            name = c_string(p["name"])
            rows.append([name, human(f["object_size"]), f"{f['reserve_level']}/{f['min_objects']}",
                         f["in_use"], f["reserve_hits"], f["failures"], f["refills"],
                         f["top_ups"], f["foreign_frees"]])
            chain = reserve_chain(read_word, f["reserve"], f["min_objects"])
            chains.append((name, chain))
            if len(chain) != f["reserve_level"]:
                problems.append(f"{name}: the reserve chain holds {len(chain)} objects, "
                                f"reserve_level says {f['reserve_level']}")
        if rows:
            write(table(["pool", "object", "reserve", "in use", "reserve hits", "failures",
                         "refills", "top-ups", "foreign"], rows, left=(0,)))
        for name, chain in chains:
            write(f"  {name} reserve: " + (" ".join(f"{a:#010x}" for a in chain) or "empty"))
        write("audit: " + ("consistent" if not problems else f"{len(problems)} problems"))
        for line in problems:
            write(f"problem: {line}")
        q = value("heap_quick")
        write(f"heap quick fit: hits {u32(q['hits'])}, misses {u32(q['misses'])}, flushes "
              f"{u32(q['flushes'])} ({u32(q['flushed_blocks'])} blocks)")
        lists = [(u32(q["block_size"][i]), u32(q["blocks"][i]), u32(q["frees"][i]))
                 for i in range(int(q["blocks"].type.range()[1]) + 1)]
        lists = [row for row in lists if row[0]]
        if lists:
            write(table(["block bytes", "parked", "frees"], lists))


COMMANDS = (PoolsCommand,)
