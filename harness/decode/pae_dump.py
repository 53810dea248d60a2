"""PAE page tables entry by entry, as ``mm pt`` prints them under CR4.PAE:
the PDPTEs, the PDEs of each directory and the PTEs of each table in a
range, every one with its 64-bit value, what it points to, its flag bits in
fixed columns and, for an entry that maps a page, the page's effective
rights with the execute right (what the CPU applies through every level:
U and W must be set all the way down, and NX anywhere on the way, with
EFER.NXE on, takes x away).

Pure: it formats a :class:`harness.decode.pae.PaeAddressSpace` that was
already read, so the unit tests feed it built tables.
"""

from __future__ import annotations

from harness.decode import paging
from harness.decode.pae import (
    ENTRIES,
    HUGE_PAGE_SIZE,
    NX,
    PaeAddressSpace,
    PaeEntry,
    pdpi,
    pdx,
    ptx,
)

# Flag letters in fixed columns: P W U T(PWT) C(PCD) A D S(PS: a 2 MiB page)
# G, and N for bit 63 (NX).
FLAGS = (("P", paging.PRESENT), ("W", paging.WRITE), ("U", paging.USER), ("T", paging.PWT),
         ("C", paging.PCD), ("A", paging.ACCESSED), ("D", paging.DIRTY), ("S", paging.PS),
         ("G", paging.GLOBAL), ("N", NX))
FLAG_COLUMNS = "".join(name for name, _ in FLAGS)
SLOT_BYTES = 1 << 30  # what one PDPTE maps
LEVEL_LABELS = {3: "PDPTE", 2: " PDE", 1: "  PTE"}
RESERVED_NOTE = "reserved bits set: the CPU faults here"


def flag_columns(raw: int) -> str:
    return "".join(name if raw & bit else "-" for name, bit in FLAGS)


def header() -> str:
    return (f"{'':5} {'idx':>4}  {'virtual':10}  {'entry':18}  {'points to':11}  "
            f"{FLAG_COLUMNS}  rights")


def row(entry: PaeEntry, index: int, va: int, rights: str = "", note: str = "") -> str:
    """One entry; ``rights`` (e.g. "urw-") only for an entry that maps a page."""
    if entry.reserved_bits_set:
        note = RESERVED_NOTE + (f" ({note})" if note else "")
    return (f"{LEVEL_LABELS[entry.level]:<5} {index:>4}  {va:#010x}  {entry.raw:#018x}  "
            f"{entry.frame:#011x}  {flag_columns(entry.raw)}  {rights:6}  {note}").rstrip()


def dump(aspace: PaeAddressSpace, start: int, end: int) -> list[str]:
    """The rows for [start, end): every present PDPTE whose 1 GiB overlaps
    it, every present PDE below one without reserved bits whose 2 MiB
    overlaps it, every present PTE in it; not-present entries are counted,
    not shown.  The last line sums up."""
    lines = [header()]
    shown = {3: 0, 2: 0, 1: 0}
    absent = {3: 0, 2: 0, 1: 0}
    large = 0
    for i in range(pdpi(start), pdpi(end - 1) + 1):
        pdpte = aspace.pdpte(i)
        if not pdpte.present:
            absent[3] += 1
            continue
        shown[3] += 1
        lines.append(row(pdpte, i, i * SLOT_BYTES, note="page directory"))
        if not pdpte.usable:
            continue
        lo, hi = max(start, i * SLOT_BYTES), min(end, (i + 1) * SLOT_BYTES)
        for j in range(pdx(lo), pdx(hi - 1) + 1):
            pde, base = aspace.pde(i, j), i * SLOT_BYTES + j * HUGE_PAGE_SIZE
            if not pde.present:
                absent[2] += 1
                continue
            shown[2] += 1
            if pde.large:
                large += 1
                lines.append(row(pde, j, base, aspace.translate(base).rights(), "2 MiB page"))
                continue
            lines.append(row(pde, j, base, note="page table"))
            if not pde.usable:
                continue
            missing = 0
            first = ptx(max(lo, base))
            last = ptx(min(hi, base + HUGE_PAGE_SIZE) - 1)
            for k in range(first, last + 1):
                pte, va = aspace.pte(i * ENTRIES + j, k), base + k * paging.PAGE_SIZE
                if pte.present:
                    shown[1] += 1
                    lines.append(row(pte, k, va, aspace.translate(va).rights()))
                else:
                    missing += 1
            absent[1] += missing
            if missing:
                lines.append(f"  ({missing} not-present PTE{'s' if missing > 1 else ''} skipped)")
    lines.append(f"present: {shown[3]} PDPTEs, {shown[2]} PDEs ({large} 2 MiB pages, "
                 f"{shown[2] - large} page tables), {shown[1]} PTEs; not present, skipped: "
                 f"{absent[3]} PDPTEs, {absent[2]} PDEs, {absent[1]} PTEs")
    return lines

