"""The per-CPU frame caches (firmware/include/mm/pcp.h) as pure Python, and
the rules they must obey against the PMM's bitmaps and the frame table.

A cached frame is used in the bitmap and held by nobody: the audit checks
each cache's frames are real (inside the bitmap, used, not reserved, no
references, and FRAME_PCP their only flag), that no other frame has
FRAME_PCP, that no frame is cached twice (in one cache or in two), that a
cache holds at most its capacity, that at a stop no drain another CPU asked
for is left unanswered and no cache is half-way through giving frames back
(busy), and that its statistics add up to its count:
``count == refilled + frees - allocs - drained``.  Tests and audits count
cached frames as free (:func:`cached_frames`)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.decode.frames import FRAME_PCP, FrameTable, flag_text

SPIN_NO_CPU = 0xFF  # firmware/include/kernel/spinlock.h


@dataclass(frozen=True)
class CpuCache:
    """One CPU's ``struct pcp`` as read from guest RAM."""

    cpu: int
    count: int
    slots: tuple[int, ...]  # every entry of pfns[], bottom first (the top is [count - 1])
    stats: dict[str, int]   # struct pcp_stats
    drain_asked: int = 0  # drains other CPUs asked of it
    drain_done: int = 0   # of them, answered
    busy: int = 0         # its CPU is giving frames back to the PMM

    @property
    def frames(self) -> list[int]:
        """The cached frames, bottom first (the next allocation takes the last)."""
        return list(self.slots[:self.count])

    @property
    def capacity(self) -> int:
        return len(self.slots)


def cached_frames(caches: list[CpuCache]) -> set[int]:
    """Every frame any CPU caches."""
    return {pfn for c in caches for pfn in c.frames}


def lock_problems(name: str, held: dict[str, int]) -> list[str]:
    """A struct spinlock (its decoded fields) that is not free at a stop:
    a ticket handed out and not served, or a holder left in it."""
    if held["next"] == held["owner"] and held["cpu"] == SPIN_NO_CPU:
        return []
    return [f"{name} is locked at a stop (next {held['next']}, owner {held['owner']}, "
            f"holder CPU {held['cpu']:#x})"]


def check(caches: list[CpuCache], used: int, reserved: int, frame_count: int,
          table: FrameTable | None) -> list[str]:
    """Every way the caches break the rules above (empty: none).  ``used``
    and ``reserved`` are the PMM's bitmaps as integers (bit i: frame i)."""
    out: list[str] = []
    owner: dict[int, int] = {}
    for c in caches:
        where = f"CPU {c.cpu}'s frame cache"
        if c.count > c.capacity:
            out.append(f"{where} says it holds {c.count} frames, it has room for {c.capacity}")
            owner.update((pfn, c.cpu) for pfn in c.slots)  # whatever it holds: no more noise
            continue
        if c.drain_asked != c.drain_done:
            out.append(f"{where} has a drain request unanswered at a stop (asked "
                       f"{c.drain_asked}, answered {c.drain_done})")
        if c.busy:
            out.append(f"{where} is giving frames back at a stop (busy {c.busy})")
        s = c.stats
        expected = s["refilled"] + s["frees"] - s["allocs"] - s["drained"]
        if c.count != expected:
            out.append(f"{where} holds {c.count} frames, its statistics say {expected} "
                       f"(refilled {s['refilled']} + frees {s['frees']} - allocs "
                       f"{s['allocs']} - drained {s['drained']})")
        for pfn in c.frames:
            frame = f"{where}: frame {pfn:#x}"
            if pfn in owner:
                other = "twice" if owner[pfn] == c.cpu else f"also by CPU {owner[pfn]}"
                out.append(f"{frame} is cached {other}")
                continue
            owner[pfn] = c.cpu
            if pfn >= frame_count:
                out.append(f"{frame} is outside the bitmap's {frame_count} frames")
                continue
            if not used >> pfn & 1:
                out.append(f"{frame} is free in the bitmap (the PMM may hand it out again)")
            if reserved >> pfn & 1:
                out.append(f"{frame} is reserved")
            if table is not None and pfn < table.count:
                info = table[pfn]
                if info.refs:
                    out.append(f"{frame} has {info.refs} references: someone holds it")
                if info.flags != FRAME_PCP:
                    out.append(f"{frame} has flags {flag_text(info.flags)}, not pcp alone")
    if table is not None:
        out += [f"frame {pfn:#x} has the pcp flag, but no cache holds it"
                for pfn, info in table.held() if info.flags & FRAME_PCP and pfn not in owner]
    return out
