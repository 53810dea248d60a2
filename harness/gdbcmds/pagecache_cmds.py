"""``mm pagecache``: the page cache (firmware/fs/pagecache.c, fs/pagecache.h):
its counters with the hit rate, and every cached page, most recently used
first: the file (path and ino, from the file system's table), the page
index, the frame and its reference count (the cache's own one, plus one for
each mapping of it), and whether the frame carries FRAME_PAGECACHE.

:func:`page_cache_report` is the text; ``mm cache`` (the buffer cache's
command) shows it after its own part.  Everything is read through GDB from
the kernel's variables: ``pagecache_stats``, the LRU list from
``pagecache_lru``, ``fs_files``/``fs_state``, ``frame_table``.
"""

from __future__ import annotations

import gdb

from harness.decode.frames import FRAME_PAGECACHE
from harness.decode.text import table
from harness.gdbcmds.common import CommandError, Subcommand, human, u32, value

ROW_LIMIT = 100  # rows a listing shows (mm cache's buffers too)
STATS = ("pages", "hits", "misses", "readahead", "evictions", "read_errors")


def file_paths() -> dict[int, str]:
    """ino -> the file's absolute path."""
    count = int(value("fs_state.files"))
    return {int(value(f"fs_files[{i}].ino")): "/" + value(f"fs_files[{i}].path").string()
            for i in range(count)}


def cached_pages(limit: int) -> list[tuple[int, int, int]]:
    """(ino, index, pfn) along the LRU list, most recent first (at most limit)."""
    out: list[tuple[int, int, int]] = []
    addr = u32("pagecache_lru")
    while addr and len(out) < limit:
        entry = value(f"*(struct pc_page *){addr:#x}")
        out.append((int(entry["ino"]), int(entry["index"]), int(entry["pfn"])))
        addr = u32(entry["lru_next"])
    return out


def hit_rate(hits: int, misses: int) -> str:
    """hits among all lookups, as mm cache and mm pagecache print it."""
    total = hits + misses
    return f"{100 * hits / total:.1f}%" if total else "-"


def page_cache_report(limit: int = ROW_LIMIT) -> str:
    stats = {name: int(value(f"pagecache_stats.{name}")) for name in STATS}
    rate = hit_rate(stats["hits"], stats["misses"])
    lines = [f"page cache: {stats['pages']} pages ({human(stats['pages'] * 4096)}), "
             f"hits {stats['hits']}, misses {stats['misses']}, hit rate {rate}, "
             f"readahead {stats['readahead']}, evictions {stats['evictions']}, "
             f"read errors {stats['read_errors']}"]
    pages = cached_pages(limit)
    if pages:
        paths = file_paths()
        rows = []
        for ino, index, pfn in pages:
            info = value(f"frame_table[{pfn}]")
            flag = "yes" if int(info["flags"]) & FRAME_PAGECACHE else "NO"
            rows.append((paths.get(ino, "?"), ino, index, f"{pfn << 12:#x}", int(info["refs"]),
                         flag))
        lines.append(table(["file", "ino", "page", "frame", "refs", "pagecache"], rows,
                           left=(0,)))
    if stats["pages"] > len(pages):
        lines.append(f"... and {stats['pages'] - len(pages)} more")
    return "\n".join(lines)


class PageCacheCommand(Subcommand):
    """Show the page cache: mm pagecache

    Its counters (pages cached, hits, misses and the hit rate, pages read
    ahead, evictions, read errors) and each cached page, most recently used
    first: file path and ino, page index, frame, the frame's reference count
    (1: the cache alone; one more for each mapping) and whether it is marked
    FRAME_PAGECACHE.  The first 100 pages are listed."""

    name = "pagecache"
    usage = "mm pagecache"

    def run(self, argv: list[str]) -> None:
        if argv:
            raise CommandError("takes no arguments")
        gdb.write(page_cache_report() + "\n")


COMMANDS = (PageCacheCommand,)
