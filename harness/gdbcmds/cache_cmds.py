"""``mm cache``: the buffer cache (firmware/fs/bcache.c) and the disks under
it (firmware/dev/blk.c), then the page cache (firmware/fs/pagecache.c, the
text of ``mm pagecache``: harness/gdbcmds/pagecache_cmds.py).

Everything is read from the kernel being debugged: bcache_stats and
bcache_max for the totals, the hash chains (bcache_hash) for every buffer
and the LRU list (bcache_lru_head) for which buffers are unheld and in what
order, blk_devices for each disk's request counters; flag values come from
the kernel's harness_const_BUF_VALID and _DIRTY (macros are not in the
debug info).
"""

from __future__ import annotations

from harness.decode.text import table
from harness.gdbcmds.common import (
    CommandError,
    Subcommand,
    c_string,
    count_of,
    firmware_const,
    human,
    u32,
    value,
    write,
)
from harness.gdbcmds.pagecache_cmds import ROW_LIMIT, hit_rate, page_cache_report


def flag_names(flags: int, names: dict[int, str]) -> str:
    return ",".join(name for bit, name in sorted(names.items()) if flags & bit) or "-"


def buffers() -> list[dict]:
    """Every buffer on the hash chains: address, device, block, refs, flags,
    frame, and its place on the LRU (0 = most recent; None while held)."""
    lru: dict[int, int] = {}
    b = value("bcache_lru_head")
    while u32(b) and len(lru) < 1 << 20:
        lru[u32(b)] = len(lru)
        b = b["lru_next"]
    out = []
    chains = value("bcache_hash")
    for i in range(count_of("bcache_hash")):
        b = chains[i]
        while u32(b):
            out.append({"addr": u32(b), "dev": c_string(b["dev"]["name"]),
                        "block": u32(b["block"]), "refs": u32(b["refs"]),
                        "flags": u32(b["flags"]), "pfn": u32(b["pfn"]), "lru": lru.get(u32(b))})
            b = b["hash_next"]
    return sorted(out, key=lambda r: (r["dev"], r["block"]))


class CacheCommand(Subcommand):
    """Show the buffer cache: mm cache [buffers]

    The buffer cache's totals (bcache_stats): buffers allocated, each one
    frame of 4 KiB, against the limit bcache_max; dirty buffers; hits,
    misses and the hit rate; blocks written back, frames reclaimed under
    memory pressure, failed write-backs.  Then each disk the kernel found,
    with its capacity and the requests its block layer completed.  With
    "buffers", every cached block: device, block number, holders (refs),
    flags (valid, dirty), its frame, and its place on the LRU list (0 is the
    most recently used; "held" while someone holds it).  Last, the page
    cache as ``mm pagecache`` shows it: its counters and hit rate, and each
    cached file page with its frame and the frame's holders."""

    name = "cache"
    usage = "mm cache [buffers]"

    def run(self, argv: list[str]) -> None:
        if argv not in ([], ["buffers"]):
            raise CommandError(f"unexpected argument {' '.join(argv)!r}")
        s = value("bcache_stats")
        n = {f: u32(s[f]) for f in ("buffers", "dirty", "hits", "misses", "writebacks",
                                    "reclaimed", "write_errors")}
        block = firmware_const("BCACHE_BLOCK_SIZE")
        write(f"buffer cache: {n['buffers']} buffers of {u32('bcache_max')} "
              f"({human(n['buffers'] * block)}), {n['dirty']} dirty; "
              f"hits {n['hits']}, misses {n['misses']} (hit rate "
              f"{hit_rate(n['hits'], n['misses'])}); written back {n['writebacks']}, "
              f"reclaimed {n['reclaimed']}, write errors {n['write_errors']}")
        rows = []
        devices = value("blk_devices")
        for i in range(count_of("blk_devices")):
            d = devices[i]
            if not u32(d["present"]):
                continue
            st = d["stats"]
            rows.append([c_string(d["name"]), str(int(d["sectors"])), c_string(d["model"]),
                         str(u32(st["reads"])), str(u32(st["writes"])), str(u32(st["flushes"])),
                         str(u32(st["sectors_read"])), str(u32(st["sectors_written"])),
                         str(u32(st["errors"]))])
        if rows:
            write(table(["disk", "sectors", "model", "reads", "writes", "flushes",
                         "sect read", "sect written", "errors"], rows, left=(0, 2)))
        else:
            write("no disks")
        if argv == ["buffers"]:
            self.show_buffers()
        write(page_cache_report())

    @staticmethod
    def show_buffers() -> None:
        names = {firmware_const("BUF_VALID"): "valid", firmware_const("BUF_DIRTY"): "dirty"}
        bufs = buffers()
        rows = [[f"{b['addr']:#010x}", b["dev"], str(b["block"]), str(b["refs"]),
                 flag_names(b["flags"], names), f"{b['pfn']:#x}",
                 "held" if b["lru"] is None else str(b["lru"])] for b in bufs[:ROW_LIMIT]]
        if rows:
            write(table(["buf", "dev", "block", "refs", "flags", "pfn", "lru"], rows,
                        left=(1, 4)))
        else:
            write("no buffers")
        if len(bufs) > ROW_LIMIT:
            write(f"... {len(bufs) - ROW_LIMIT} more")


COMMANDS = (CacheCommand,)
