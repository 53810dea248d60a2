"""``mm frame PA``: who holds one physical frame, cross-checked.

Every present PTE pointing at the frame, in the kernel's directory (both
halves) and in each live process's user half (the kernel half is shared, so
it is read once), with its flags; the frame table's entry (mm/frame.h); the
references the kernel holds without a mapping (shared-memory segments); the
PMM's bit.  Then whether refs == PAGE_OWNED PTEs + kernel references, as
the harness's audit (harness/decode/frames.py) requires after every test.
"""

from __future__ import annotations

from harness.decode import frames, paging
from harness.gdbcmds.common import (
    PAGE_SIZE,
    CommandError,
    Subcommand,
    count_of,
    kernel_base,
    number,
    read,
    u32,
    value,
    write,
)
from harness.gdbcmds.paging_cmds import walk
from harness.gdbcmds.spaces import kernel_cr3, pae_enabled, processes


def frame_info(pfn: int) -> frames.FrameInfo | None:
    """One frame's entry, or None beyond the table."""
    if pfn >= u32("frame_table_frames"):
        return None
    return frames.FrameTable(read(u32("frame_table") + pfn * frames.ENTRY_BYTES,
                                  frames.ENTRY_BYTES))[0]


def pmm_used(pfn: int) -> bool | None:
    """The PMM bitmap's bit for the frame (None beyond its frames)."""
    if pfn >= u32("pmm_stats.frame_count"):
        return None
    word = int.from_bytes(read(u32("pmm_bitmap") + pfn // 32 * 4, 4), "little")
    return bool(word >> pfn % 32 & 1)


def segment_references(pfn: int) -> list[str]:
    """The live shared-memory segments holding the frame (shm.c's segments)."""
    segments = value("'shm.c'::segments")
    out = []
    for i in range(count_of(segments)):
        s = segments[i]
        pages = u32(s["pages"])
        if int(s["id"]) and pages:
            ids = read(u32(s["frames"]), 4 * pages)
            if pfn in (int.from_bytes(ids[k:k + 4], "little") for k in range(0, 4 * pages, 4)):
                out.append(f"segment {int(s['id'])}")
    return out


def ptes_naming(frame: int) -> list[frames.PteRef]:
    """Every present or PROT_NONE PTE pointing at ``frame``: the kernel's
    directory whole, then each live process below the kernel base."""
    pae = pae_enabled()
    base = kernel_base()
    spaces = [("the kernel", kernel_cr3(), 1 << 32)]
    spaces += [(f"pid {p['pid']} ({p['name']})", p["cr3"], base) for p in processes()
               if p["cr3"]]
    out = []
    for who, cr3, end in spaces:
        if cr3 is None:
            continue
        aspace = walk(cr3)
        for m in [*aspace.mappings(0, end), *aspace.protnone_pages(0, end)]:
            if m.pa == frame and m.size == PAGE_SIZE and m.pte is not None:
                out.append(frames.PteRef(who, m.va, m.pte, pae))
    return out


class FrameCommand(Subcommand):
    """Show who holds a physical frame: mm frame PA

    Every present or PROT_NONE PTE that points at the frame (the kernel's directory, both
    halves, and every live process's user half), each with its pid, virtual
    address, raw entry and whether it is PAGE_OWNED (holds a reference) or
    copy-on-write; the frame table's refs, flags (cow, pinned, pagecache, swapcache)
    and node; the kernel's own references (the shared-memory segments
    holding it); whether the PMM's bitmap has it in use.  Then the
    cross-check the test suite's audit makes: refs == PAGE_OWNED PTEs +
    kernel references, a referenced frame is used, no copy-on-write PTE is
    writable, FRAME_COW only where a PTE maps it copy-on-write.  PA is any
    GDB expression; the frame holding it is shown."""

    name = "frame"
    usage = "mm frame PA"

    def run(self, argv: list[str]) -> None:
        if len(argv) != 1:
            raise CommandError("one physical address is needed")
        frame = number(argv[0], "physical address") & ~(PAGE_SIZE - 1)
        pfn = frame // PAGE_SIZE
        info = frame_info(pfn)
        used = pmm_used(pfn)
        ptes = ptes_naming(frame)
        kernel = segment_references(pfn)
        bit = {None: "beyond its frames", True: "used", False: "free"}[used]
        write(f"frame {frame:#010x} (pfn {pfn:#x}): "
              + (str(info) if info is not None else "beyond the frame table")
              + f"; PMM bitmap: {bit}")
        write(f"PTEs pointing at it: {len(ptes)}")
        width = max([len(p.who) for p in ptes] + [3])
        for p in ptes:
            entry = f"{p.raw:#018x}" if p.pae else f"{p.raw:#010x}"
            kinds = [k for k, on in (("owned", p.owned), ("cow", p.cow),
                                     ("writable", bool(p.raw & paging.WRITE)),
                                     ("user", bool(p.raw & paging.USER)),
                                     ("protnone", p.protnone)) if on]
            write(f"  {p.who:<{width}}  va {p.va:#010x}  PTE {entry}  {' '.join(kinds)}")
        write(f"kernel references: {len(kernel)}" + (f" ({', '.join(kernel)})" if kernel else ""))
        if info is None:
            return
        owned = sum(1 for p in ptes if p.owned)
        want = frames.expected_refs(ptes, kernel)
        problems = frames.audit_frame(frame, info, ptes, kernel, bool(used))
        verdict = "consistent" if info.refs == want else "MISMATCH"
        write(f"refs {info.refs} {'==' if info.refs == want else '!='} "
              f"{frames.plural(owned, 'PAGE_OWNED PTE')} + "
              f"{frames.plural(len(kernel), 'kernel reference')}: {verdict}")
        for line in problems:
            write(f"problem: {line}")


COMMANDS = (FrameCommand,)
