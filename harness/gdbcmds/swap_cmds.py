"""``mm swap``: the swap slots, the compressed pool, and which PTEs name
which slots, cross-checked.

The numbers come from the kernel's counters (mm/swap.h's swap_stats,
mm/zswap.h's zswap_stats); the slots from the slot map and the swap cache
(swap_map, swap_cache); the entries from walking every live process's user
half (harness/decode/swap.py decodes them).  Then the audit the test suite
runs after every swap test: every slot in use is referenced by exactly the
swap entries and the swap-cache entry naming it.
"""

from __future__ import annotations

from harness.decode import swap
from harness.decode.ide import IDE_NAMES
from harness.gdbcmds.common import CommandError, Subcommand, kernel_base, read, u32, value, write
from harness.gdbcmds.paging_cmds import walk
from harness.gdbcmds.spaces import processes

PAGE_SIZE = 4096


def swap_state() -> swap.SwapState:
    """The slot map and the swap cache, from guest memory."""
    slots, refs = u32("swap_stats.slots"), u32("swap_map")
    if not slots or not refs:  # swap off, or nothing swapped out yet
        return swap.SwapState(b"", ())
    return swap.SwapState.decode(read(refs, slots), read(u32("swap_cache"), 4 * slots))


def swap_entries() -> list[swap.SwapEntry]:
    """Every swap entry of every live process, in pid and address order."""
    end = kernel_base()
    out = []
    for p in processes():
        if p["cr3"]:
            who = f"pid {p['pid']} ({p['name']})"
            out += [swap.SwapEntry(who, va, raw) for va, raw in walk(p["cr3"]).swap_pages(0, end)]
    return out


def pool_ratio(stored: int, same: int, pool_bytes: int) -> str:
    """The compression ratio of the compressed entries (zswap.h's formula)."""
    if not pool_bytes:
        return "-"
    return f"{(stored - same) * PAGE_SIZE / pool_bytes:.2f}"


class SwapCommand(Subcommand):
    """Show swap: mm swap

    The swap disk and its slots (in use, retired, free), the counters
    (swap-outs, swap-ins, pool and disk traffic, swap-cache hits), the
    compressed pool (stored pages, same-filled ones, compressed bytes and
    the cap, the ratio, write-backs), every PTE that names a slot (pid, va,
    slot, rights), the swap cache (slot -> frame), and the audit: each slot
    in use is referenced by exactly the PTEs and the swap-cache entry naming
    it."""

    name = "swap"
    usage = "mm swap"

    def run(self, argv: list[str]) -> None:
        if argv:
            raise CommandError("mm swap takes no arguments")
        s = value("swap_stats")
        field = {name: int(s[name]) for name in (f.name for f in s.type.fields())}
        disk = u32("swap_disk_index")
        dev = IDE_NAMES[disk] if disk < len(IDE_NAMES) else "none (pool only)"
        state = swap_state()
        in_use, retired = len(state.in_use()), len(state.retired())
        usable = max(field["slots"] - 1, 0)
        write(f"swap: dev {dev}, slots {usable} (1..{usable}): in use {in_use}, "
              f"retired {retired}, free {usable - in_use - retired}")
        write(f"  swap-outs {field['swap_outs']} (pool {field['pool_stores']}, disk "
              f"{field['disk_writes']}), swap-ins {field['swap_ins']} (pool "
              f"{field['pool_loads']}, disk {field['disk_reads']}, swap cache "
              f"{field['cache_hits']}), errors: write {field['write_errors']} read "
              f"{field['read_errors']}")
        z = value("zswap_stats")
        pool = {name: int(z[name]) for name in (f.name for f in z.type.fields())}
        write(f"pool: {pool['stored_pages']} pages ({pool['same_filled']} same-filled), "
              f"{pool['pool_bytes']} of {pool['max_bytes']} bytes, ratio "
              f"{pool_ratio(pool['stored_pages'], pool['same_filled'], pool['pool_bytes'])}, "
              f"write-backs {pool['writebacks']} (errors {pool['writeback_errors']}), "
              f"rejected {pool['rejected']}")
        entries = swap_entries()
        write(f"PTEs naming slots: {len(entries)}")
        width = max([len(e.who) for e in entries] + [3])
        for e in entries:
            write(f"  {e.who:<{width}}  va {e.va:#010x}  slot {e.slot:<6}  "
                  f"{swap.rights_text(e.raw)}")
        cached = state.cached()
        write(f"swap cache: {len(cached)} frames")
        for slot, pfn in cached.items():
            write(f"  slot {slot} -> frame {pfn << 12:#010x} (pfn {pfn:#x})")
        problems = swap.audit(state, entries)
        write("audit: " + ("consistent" if not problems else f"{len(problems)} problems"))
        for line in problems:
            write(f"problem: {line}")


COMMANDS = (SwapCommand,)
