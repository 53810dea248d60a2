"""The firmware's frame table (mm/frame.h) as pure Python: decode it from its
bytes, and compare it with the page tables (the reference-count audit).

The table is one ``struct frame_info`` per frame the PMM covers, 4 bytes each:
``refs`` (u16, little-endian), ``flags`` (u8: FRAME_COW, FRAME_PINNED,
FRAME_PAGECACHE, FRAME_SWAPCACHE, FRAME_PCP, ...) and ``node`` (u8).  A frame's
``refs`` counts every PAGE_OWNED PTE naming it (present, or a PROT_NONE entry
keeping its page), in any address space (the kernel half once), plus every
reference the kernel holds without a mapping (a shared-memory segment holds one
on each of its frames, the page cache one on each of its pages).  :func:`audit`
checks exactly that, with what the caller found in the page tables and the
kernel's structures; the harness (harness/targets/mmverify/invariants.py) and
``mm frame`` both use it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from harness.decode.paging import COW, OWNED, PAGE_SIZE, PRESENT, PROTNONE, WRITE

ENTRY_BYTES = 4  # _Static_assert in frame.h
FRAME_COW = 0x01         # may be shared copy-on-write (every COW PTE's frame has it)
FRAME_PINNED = 0x02      # held by the kernel (shared memory)
FRAME_BALLOON = 0x04     # given to the host by the virtio balloon: it holds one reference
FRAME_PAGECACHE = 0x08   # a file page: the page cache holds one reference
FRAME_SWAPCACHE = 0x10   # in the swap cache: it holds one reference (mm/swap.h)
FRAME_PCP = 0x40         # in a CPU's frame cache (mm/pcp.h): used, held by nobody
FLAG_NAMES = ((FRAME_COW, "cow"), (FRAME_PINNED, "pinned"), (FRAME_PAGECACHE, "pagecache"),
              (FRAME_SWAPCACHE, "swapcache"), (FRAME_BALLOON, "balloon"), (FRAME_PCP, "pcp"))
_EMPTY_CHUNK = bytes(PAGE_SIZE)  # 1024 entries with nothing in them
MESSAGE_PTES = 6  # PTEs named in one failure before "and N more"


def flag_text(flags: int) -> str:
    """``cow,pinned``; ``-`` when none; an unknown bit as hex."""
    names = [name for bit, name in FLAG_NAMES if flags & bit]
    unknown = flags & ~sum(bit for bit, _ in FLAG_NAMES)
    if unknown:
        names.append(f"{unknown:#x}")
    return ",".join(names) or "-"


@dataclass(frozen=True)
class FrameInfo:
    """One frame's ``struct frame_info``."""

    refs: int
    flags: int
    node: int

    @property
    def cow(self) -> bool:
        return bool(self.flags & FRAME_COW)

    @property
    def pinned(self) -> bool:
        return bool(self.flags & FRAME_PINNED)

    def __str__(self) -> str:
        return f"refs={self.refs} flags={flag_text(self.flags)} node={self.node}"


class FrameTable:
    """The frame table's bytes, decoded on demand (frame ``pfn`` at byte
    4 * pfn); the table covers frames 0 .. count - 1."""

    def __init__(self, data: bytes) -> None:
        if len(data) % ENTRY_BYTES:
            raise ValueError(f"a frame table is {ENTRY_BYTES} bytes a frame; "
                             f"{len(data)} bytes is not a whole number of frames")
        self.data = data
        self.count = len(data) // ENTRY_BYTES

    def __getitem__(self, pfn: int) -> FrameInfo:
        if not 0 <= pfn < self.count:
            raise IndexError(f"frame {pfn:#x} is outside the table's {self.count} frames")
        return FrameInfo(*struct.unpack_from("<HBB", self.data, pfn * ENTRY_BYTES))

    def held(self) -> Iterator[tuple[int, FrameInfo]]:
        """(pfn, info) for every frame with references or flags, in order.
        Skips 1024 empty entries at a time: most of a table is zeros."""
        for chunk in range(0, len(self.data), PAGE_SIZE):
            part = self.data[chunk:chunk + PAGE_SIZE]
            if part == _EMPTY_CHUNK[:len(part)]:
                continue
            first = chunk // ENTRY_BYTES
            for k, (refs, flags, node) in enumerate(struct.iter_unpack("<HBB", part)):
                if refs or flags:
                    yield first + k, FrameInfo(refs, flags, node)


@dataclass(frozen=True)
class PteRef:
    """A present or PROT_NONE PTE naming a frame: whose space, which address,
    the raw entry."""

    who: str   # "pid 1 (hello)", "the kernel"
    va: int
    raw: int
    pae: bool = False

    owned = property(lambda self: bool(self.raw & OWNED))
    cow = property(lambda self: bool(self.raw & COW))
    protnone = property(lambda self: self.raw & (PRESENT | PROTNONE) == PROTNONE)

    def __str__(self) -> str:
        entry = f"{self.raw:#018x}" if self.pae else f"{self.raw:#010x}"
        kind = "PROT_NONE entry" if self.protnone else "PTE"
        return f"{self.who} va {self.va:#010x} {kind} {entry}"


def _some(items: list, limit: int = MESSAGE_PTES) -> str:
    text = ", ".join(str(i) for i in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def expected_refs(ptes: list[PteRef], kernel: list[str]) -> int:
    """What a frame's refs must be: its PAGE_OWNED PTEs plus kernel references."""
    return sum(1 for p in ptes if p.owned) + len(kernel)


def explain(pa: int, info: FrameInfo, ptes: list[PteRef], kernel: list[str]) -> str:
    """One frame's count against what holds it, as a failure names it."""
    owned = [p for p in ptes if p.owned]
    return (f"frame {pa:#x}: refs={info.refs} in the frame table, expected "
            f"{expected_refs(ptes, kernel)} ({plural(len(owned), 'PAGE_OWNED PTE')}"
            + (f": {_some(owned)}" if owned else "")
            + f"; {plural(len(kernel), 'kernel reference')}"
            + (f": {_some(kernel)}" if kernel else "") + ")")


def audit(table: FrameTable, ptes: dict[int, list[PteRef]], kernel: dict[int, list[str]],
          used: Callable[[int], bool]) -> list[str]:
    """Every way the frame table disagrees with the page tables.

    ``ptes``: frame number -> every present or PROT_NONE PTE naming it that is PAGE_OWNED
    or copy-on-write (all live address spaces, the kernel half once);
    ``kernel``: frame number -> the kernel's own references (e.g. "segment
    3"); ``used``: whether the PMM's bitmap has the frame in use.  Rules:

    - refs == PAGE_OWNED PTEs + kernel references, for every frame;
    - a frame with references is used in the PMM's bitmap;
    - a frame some PTE maps copy-on-write has FRAME_COW (the flag may
      outlive its last COW PTE: after a copy the other holders' PTEs need
      not be copy-on-write, when an mprotect made only one of them so);
    - no copy-on-write PTE is writable.
    """
    out: list[str] = []
    held = dict(table.held())
    for pfn in sorted(set(held) | set(ptes) | set(kernel)):
        info = held.get(pfn, FrameInfo(0, 0, 0)) if pfn < table.count else None
        out += audit_frame(pfn * PAGE_SIZE, info, ptes.get(pfn, []), kernel.get(pfn, []),
                           used(pfn))
    return out


def audit_frame(pa: int, info: FrameInfo | None, ptes: list[PteRef], kernel: list[str],
                used: bool) -> list[str]:
    """:func:`audit`'s rules for one frame (``info`` None: beyond the table)."""
    out = [f"{p}: copy-on-write and writable (a write would reach the shared frame {pa:#x})"
           for p in ptes if p.cow and p.raw & WRITE]
    if info is None:
        out.append(f"frame {pa:#x}: beyond the frame table, named by "
                   f"{_some([str(p) for p in ptes] + kernel)}")
        return out
    if info.refs != expected_refs(ptes, kernel):
        out.append(explain(pa, info, ptes, kernel))
    if info.refs and not used:
        out.append(f"frame {pa:#x}: refs={info.refs}, but free in the PMM's bitmap")
    cow = [str(p) for p in ptes if p.cow]
    if cow and not info.cow:
        out.append(f"frame {pa:#x}: mapped copy-on-write by {_some(cow)}, but FRAME_COW "
                   "is not set")
    return out


@dataclass(frozen=True)
class PageRun:
    """Consecutive 4 KiB pages on consecutive frames with the same rights,
    copy-on-write bit, PAGE_OWNED bit, frame reference count and PROT_NONE
    state (``protnone``: a not-present entry that keeps its frame)."""

    start: int
    end: int
    frame: int  # the first page's frame (physical address)
    user: bool
    write: bool
    cow: bool
    owned: bool
    refs: int | None  # None: the frame is outside the table
    protnone: bool = False

    @property
    def pages(self) -> int:
        return (self.end - self.start) // PAGE_SIZE


def page_runs(pages: Iterable[tuple[int, int, bool, bool, int]], table: FrameTable
              ) -> list[PageRun]:
    """Runs of ``(va, pa, user, write, leaf flags)`` pages in address order,
    split where the frames stop being consecutive or any of rights, COW,
    OWNED, PROT_NONE or the frame's refs change (a PROT_NONE entry's flags
    have PROTNONE without PRESENT): two processes' runs with the same frames
    share them."""
    runs: list[PageRun] = []
    for va, pa, user, write, flags in pages:
        pfn = pa // PAGE_SIZE
        refs = table[pfn].refs if pfn < table.count else None
        protnone = flags & (PRESENT | PROTNONE) == PROTNONE
        run = PageRun(va, va + PAGE_SIZE, pa, user, write, bool(flags & COW), bool(flags & OWNED),
                      refs, protnone)
        last = runs[-1] if runs else None
        if (last is not None and last.end == va and last.frame + (va - last.start) == pa
                and (last.user, last.write, last.cow, last.owned, last.refs, last.protnone)
                == (user, write, run.cow, run.owned, refs, protnone)):
            runs[-1] = replace(last, end=run.end)
        else:
            runs.append(run)
    return runs


def format_page_runs(runs: list[PageRun]) -> str:
    """A table of page runs: start, end, pages, first frame, rights, owned,
    refs, cow, protnone."""
    header = f"{'start':>10}  {'end':>10}  {'pages':>6}  {'frame':>12}  rights  owned  refs  cow"
    lines = [header + ("  protnone" if any(r.protnone for r in runs) else "")]
    for r in runs:
        rights = ("u" if r.user else "-") + "r" + ("w" if r.write else "-")
        refs = "?" if r.refs is None else str(r.refs)
        lines.append(f"{r.start:#010x}  {r.end:#010x}  {r.pages:>6}  {r.frame:#012x}  "
                     f"{rights:<6}  {'yes' if r.owned else 'no':<5}  {refs:>4}  "
                     f"{'cow' if r.cow else '':<3}  {'protnone' if r.protnone else ''}".rstrip())
    return "\n".join(lines)
