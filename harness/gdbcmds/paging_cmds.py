"""``mm map``, ``mm vtop`` and ``mm pt``: an address space as the MMU sees it.

All three read the page tables from guest-physical memory (QEMU's physical
mode) and decode them with :mod:`harness.decode.paging`, the same code the harness
and its tests use, so what a person sees here is what the tests assert on.
They need no symbols: given a CR3 (or ``$cr3``) they work on any i386 kernel
behind QEMU's gdbstub; with this firmware's symbols they also take a pid and
say whose address space it is.
"""

from __future__ import annotations

import struct

import gdb

from harness.decode import frames, modes, pae, pae_dump, paging
from harness.gdbcmds.common import (
    CommandError,
    PhysReader,
    Subcommand,
    firmware,
    human,
    kernel_base,
    number,
    read,
    register,
    symbol_address,
    u32,
    value,
    write,
)
from harness.gdbcmds.cpu_cmds import selected_cpu
from harness.gdbcmds.spaces import describe_space, efer, pae_enabled, pse, resolve_space

# Flag letters in fixed columns for mm pt: P W U T(PWT) C(PCD) A D S(PS) G.
FLAG_COLUMNS = "PWUTCADSG"
FLAG_BITS = (paging.PRESENT, paging.WRITE, paging.USER, paging.PWT, paging.PCD,
             paging.ACCESSED, paging.DIRTY, paging.PS, paging.GLOBAL)


def walk(cr3: int) -> paging.AddressSpace | pae.PaeAddressSpace:
    """The whole address space at ``cr3`` in the CPU's paging mode (legacy,
    or PAE with NX when EFER.NXE is on): every present table in one read
    each, in one stretch of physical mode."""
    mode = modes.PagingMode.from_registers(register("cr4"), efer())
    with PhysReader() as reader:
        return modes.walk(reader, cr3, mode)


def empty_pdpt_note(aspace: pae.PaeAddressSpace) -> str | None:
    """As empty_directory_note, for a PDPT with no usable entry."""
    if any(aspace.pdpte(i).usable for i in range(pae.PDPT_ENTRIES)):
        return None
    return (f"note: no PDPTE is present in the PDPT at {aspace.cr3 & pae.CR3_PDPT_MASK:#010x}:"
            " is it one?  A CR3 is a physical address ('mm map $cr3' for the current one)")


def space_note(aspace: paging.AddressSpace | pae.PaeAddressSpace) -> str | None:
    if isinstance(aspace, pae.PaeAddressSpace):
        return empty_pdpt_note(aspace)
    return empty_directory_note(aspace.cr3, aspace.directory)


def empty_directory_note(cr3: int, directory: bytes) -> str | None:
    """A directory with no present PDE maps nothing, not even a kernel: say
    that ``cr3`` is likely no page directory (physical memory past RAM reads
    as zeros, so a wrong number gives an empty map, not an error)."""
    if any(raw & paging.PRESENT for raw in struct.unpack(f"<{paging.ENTRIES}I", directory)):
        return None
    return (f"note: no PDE is present in the page directory at {cr3 & paging.FRAME_MASK:#010x}:"
            " is it one?  A CR3 is a physical address ('mm map $cr3' for the current one)")


def split_summary(regions: list[paging.Region]) -> str:
    """How much is mapped below and above the kernel base (mm set kernel-base)."""
    base = kernel_base()
    user = sum(max(0, min(r.end, base) - r.start) for r in regions)
    kernel = sum(r.size for r in regions) - user
    return f"{human(user)} below {base:#010x}, {human(kernel)} from it up"


class MapCommand(Subcommand):
    """Show the merged region map of an address space: mm map [CR3|PID]

    Contiguous virtual ranges with the same effective rights, as the MMU
    applies them (a PDE limits every PTE below it): start, end, size, rights
    (u = user, r = readable, w = writable; "-r-" is supervisor read-only) and
    whether the pages are global; then how much is mapped below and above the
    kernel base ("mm show": 0xc0000000 unless set with "mm set kernel-base").
    Without an argument: the address space in $cr3.  A CR3 value (a
    page-aligned physical address, or $cr3) works on any i386 kernel, with or
    without a symbol file.  With this firmware's symbols also: the pid of a
    live process (its proc_table cr3), 0 for the kernel's own directory, and
    the header names whose address space it is.  Walked by harness.decode.paging,
    the walker the tests use, from the page tables in physical memory.  With
    CR4.PAE on, the PAE walker reads the PDPT and 64-bit entries and the
    rights gain an x column (cleared by NX when EFER.NXE is on).  With
    --cpu N, $cr3 and the paging mode are vCPU N's (also for "mm vtop" and
    "mm pt"; "mm cpus" lists them), not those of GDB's selected thread.

    With this firmware's symbols, then the pages below the kernel base in
    runs: rights, whether PAGE_OWNED (the mapping holds a frame reference),
    the frames' reference count from the frame table (refs; all frames of a
    run have the same), "cow" for copy-on-write pages (PAGE_COW) and
    "protnone" for pages mprotect(PROT_NONE) keeps (not present, frame kept); "mm
    frame PA" shows who holds one frame."""

    name = "map"
    usage = "mm map [CR3|PID]"
    needs_firmware = False

    def run(self, argv: list[str]) -> None:
        with selected_cpu(argv) as rest:
            self.show(rest)

    def show(self, argv: list[str]) -> None:
        if len(argv) > 1:
            raise CommandError("too many arguments")
        cr3 = resolve_space(argv[0] if argv else None)
        aspace = walk(cr3)
        regions = aspace.regions(split_global=True)
        is_pae = isinstance(aspace, pae.PaeAddressSpace)
        mode = ""
        if isinstance(aspace, pae.PaeAddressSpace):
            mode = f" (PAE, EFER.NXE {'on' if aspace.nxe else 'off'})"
        write(f"address space of {describe_space(cr3)}{mode}")
        write(paging.format_regions(regions, execute=is_pae))
        write(f"{len(regions)} regions: {split_summary(regions)}; "
              f"{aspace.page_tables()} page tables")
        note = space_note(aspace)
        if note:
            write(note)
        if firmware() and symbol_address("frame_table") is not None:
            write_page_runs(aspace)


def frame_table() -> frames.FrameTable:
    """The whole frame table, read through the kernel's direct map."""
    count = u32("frame_table_frames")
    return frames.FrameTable(read(u32("frame_table"), count * frames.ENTRY_BYTES))


def write_page_runs(aspace: paging.AddressSpace | pae.PaeAddressSpace) -> None:
    """The pages below the kernel base in runs of equal rights, PAGE_OWNED,
    copy-on-write and frame reference count (this firmware's frame table)."""
    base = kernel_base()
    table = frame_table()
    pages = [m for m in aspace.mappings(0, base) if m.size == paging.PAGE_SIZE]
    pages += aspace.protnone_pages(0, base)  # kept PROT_NONE pages: not present, a frame each
    runs = frames.page_runs(((m.va, m.pa, m.user, m.write, m.flags)
                             for m in sorted(pages, key=lambda m: m.va)), table)
    write(f"\npages below {base:#010x}: PAGE_OWNED, PROT_NONE entries (protnone), frame "
          "references (refs), copy-on-write")
    write(frames.format_page_runs(runs))
    cow = sum(r.pages for r in runs if r.cow)
    shared = sum(r.pages for r in runs if r.refs is not None and r.refs > 1)
    write(f"{sum(r.pages for r in runs)} pages: {cow} copy-on-write, "
          f"{shared} on frames with more than one reference")


def format_translation(t: paging.Translation, large: bool, raw_pde: int) -> list[str]:
    """One address through the levels.  A 4 MiB page has no PTX and no PTE:
    the PDE maps it, and the offset is the low 22 bits.  ``raw_pde`` is the
    PDE as in memory: with CR4.PSE off the walk reads it without PS."""
    if large:
        return [f"va {t.va:#010x}: PDX {paging.pdx(t.va)}, 4 MiB page, "
                f"offset {t.va & (paging.LARGE_PAGE_SIZE - 1):#x}",
                f"  {t.pde} (4 MiB page)",
                f"  -> {t.pa:#010x}"]
    pde = (f"  {t.pde}" if raw_pde == t.pde.raw else
           f"  PDE {raw_pde:#010x} -> {raw_pde & paging.FRAME_MASK:#010x} "
           f"[{paging.flag_string(raw_pde)}] (PS ignored: CR4.PSE is off, so a page table)")
    lines = [f"va {t.va:#010x}: PDX {paging.pdx(t.va)} PTX {paging.ptx(t.va)} "
             f"offset {t.va & 0xFFF:#x}", pde]
    if t.pte is not None:
        lines.append(f"  {t.pte}")
    lines.append(f"  -> {t.pa:#010x}" if t.pa is not None else "  -> not mapped")
    return lines


class VtopCommand(Subcommand):
    """Translate a virtual address, level by level: mm vtop ADDR [CR3|PID]

    Shows the page-directory index (PDX) and page-table index (PTX), the PDE
    and the PTE with their flags (P present, W writable, U user, T write-
    through, C cache-disabled, A accessed, D dirty, S 4 MiB page, G global),
    and the physical address, or "not mapped" when the access would fault.
    A 4 MiB page (PS in the PDE, with CR4.PSE on) has no PTX and no PTE: the
    PDE and the offset in the 4 MiB page.  ADDR is any GDB expression
    (0xc0100000, &pmm_stats, $eip).  The address space is chosen as for
    "mm map": a CR3 value or $cr3 on any kernel, a pid with this firmware's
    symbols.  With CR4.PAE on: the PDPT index (PDPI), PDX and PTX of 9 bits,
    the PDPTE, PDE and PTE as 64-bit values (X when bit 63, NX, is set) and
    whether the page is executable."""

    name = "vtop"
    usage = "mm vtop ADDR [CR3|PID]"
    needs_firmware = False

    def run(self, argv: list[str]) -> None:
        with selected_cpu(argv) as rest:
            self.show(rest)

    def show(self, argv: list[str]) -> None:
        if not argv:
            raise CommandError("an address is needed")
        if len(argv) > 2:
            raise CommandError("too many arguments")
        va = number(argv[0], "address")
        cr3 = resolve_space(argv[1] if len(argv) > 1 else None)
        aspace = walk(cr3)
        write(f"in the address space of {describe_space(cr3)}")
        if isinstance(aspace, pae.PaeAddressSpace):
            p = aspace.translate(va)
            write(str(p))  # PDPI, PDX, PTX; each 64-bit entry, X marking bit 63
            if p.pa is not None:
                write(f"  effective: {'user' if p.user else 'supervisor'}, "
                      f"{'read-write' if p.write else 'read-only'}, "
                      f"{'executable' if p.execute else 'not executable (NX)'}")
            elif p.reserved:
                write("  (an entry has reserved bits set: the CPU faults here)")
        else:
            t = aspace.translate(va)
            large = t.pde.present and aspace.pse and t.pde.large
            for line in format_translation(t, large, aspace.pde(paging.pdx(va)).raw):
                write(line)
            if t.pa is not None:
                write(f"  effective: {'user' if t.user else 'supervisor'}, "
                      f"{'read-write' if t.write else 'read-only'}")
        note = space_note(aspace)
        if note:
            write(note)


def bound(text: str, what: str) -> int:
    """A range bound: a GDB expression from 0 to 4 GiB inclusive."""
    try:
        v = value(text)
        n = u32(v) if v.type.strip_typedefs().code != gdb.TYPE_CODE_INT else int(v)
    except gdb.error as exc:
        raise CommandError(f"cannot parse {what} {text!r}: {exc}") from None
    if not 0 <= n <= 1 << 32:
        raise CommandError(f"{what} {text!r} ({n:#x}) is outside the 32-bit address space")
    return n


def split_range(text: str) -> tuple[str, str, str] | None:
    """``START-END`` or ``START+LEN`` split at the operator outside
    parentheses (the first character is never one: -1 is not a range)."""
    depth = 0
    for i, c in enumerate(text):
        depth += c == "("
        depth -= c == ")"
        if i and depth == 0 and c in "-+":
            return text[:i], c, text[i + 1:]
    return None


def parse_range(text: str) -> tuple[int, int]:
    """[start, end) from START-END, START+LEN or a single ADDR (its page)."""
    parts = split_range(text)
    if parts is None:
        start = bound(text, "address")
        if start == 1 << 32:
            raise CommandError(f"address {text!r} is outside the 32-bit address space")
        return start, start + 1
    left, op, right = parts
    start = bound(left, "range start")
    end = start + bound(right, "range length") if op == "+" else bound(right, "range end")
    if end > 1 << 32:
        raise CommandError(f"{text!r} ends at {end:#x}, beyond 4 GiB")
    if end <= start:
        raise CommandError(f"{text!r} is empty (the end must be above the start)")
    return start, end


def flag_columns(raw: int) -> str:
    return "".join(name if raw & bit else "-" for name, bit in zip(FLAG_COLUMNS, FLAG_BITS,
                                                                     strict=True))


def entry_row(kind: str, index: int, va: int, raw: int, points_to: int, note: str = "") -> str:
    level = kind if kind == "PDE" else f"  {kind}"
    return (f"{level:<5} {index:>4}  {va:#010x}  {raw:#010x}  {points_to:#010x}  "
            f"{flag_columns(raw)}" + (f"  {note}" if note else "")).rstrip()


class PtCommand(Subcommand):
    """Dump page-table entries one by one: mm pt [CR3|PID] [RANGE]

    Every present PDE whose 4 MiB overlaps RANGE, with its index, the virtual
    address it starts, its raw value, what it points to (a page table, or the
    4 MiB page itself) and its flags in fixed columns:
      P present  W writable  U user  T write-through  C cache-disabled
      A accessed  D dirty  S 4 MiB page (PS)  G global
    ('-' where the bit is clear); under a page table, every present PTE in
    RANGE the same way, then how many not-present PTEs were skipped.  A PDE
    with PS set is a 4 MiB page when CR4.PSE is on (marked "4 MiB page"); with
    CR4.PSE off the CPU ignores PS and reads a page table, and the dump says
    so.  The last line counts present and skipped entries.

    RANGE is START-END (END excluded, up to 0x100000000), START+LEN, or one
    ADDR (the entries that map it); each part a number or a GDB expression
    (wrap one that has a + or - in parentheses).  Without RANGE: all 4 GiB.
    With one argument, it is RANGE when written START-END or START+LEN and
    the address space otherwise ("mm pt $cr3 ADDR" for one address of the
    current space).  The address space is chosen as for "mm map".  Entries
    are read raw from physical memory, as the MMU reads them.

    With CR4.PAE on: the PDPTEs, then PDEs and PTEs as 64-bit values (S is a
    2 MiB page, N bit 63, NX), each entry that maps a page with its
    effective rights through every level, x for executable (taken away by
    NX on any level when EFER.NXE is on); an entry with reserved bits set
    (NX with EFER.NXE off, address bits past the CPU's width) says so."""

    name = "pt"
    usage = "mm pt [CR3|PID] [START-END|START+LEN|ADDR]"
    needs_firmware = False

    def run(self, argv: list[str]) -> None:
        with selected_cpu(argv) as rest:
            self.show(rest)

    def show(self, argv: list[str]) -> None:
        if len(argv) > 2:
            raise CommandError("too many arguments")
        space, span = None, None
        if len(argv) == 2:
            space, span = argv
        elif len(argv) == 1 and split_range(argv[0]) is not None:
            span = argv[0]
        elif argv:
            space = argv[0]
        start, end = parse_range(span) if span is not None else (0, 1 << 32)
        cr3 = resolve_space(space)
        if pae_enabled():
            self.dump_pae(cr3, start, end)
            return
        large_pages = pse()
        first, last = paging.pdx(start), paging.pdx(end - 1)
        with PhysReader() as reader:
            raw_directory = reader.read_phys(cr3 & paging.FRAME_MASK, paging.TABLE_BYTES)
            directory = struct.unpack(f"<{paging.ENTRIES}I", raw_directory)
            tables = {i: reader.read_phys(directory[i] & paging.FRAME_MASK, paging.TABLE_BYTES)
                      for i in range(first, last + 1)
                      if directory[i] & paging.PRESENT
                      and not (large_pages and directory[i] & paging.PS)}

        write(f"page tables of {describe_space(cr3)}, {start:#010x}-{end:#010x}; "
              f"CR4.PSE {'on' if large_pages else 'off'}")
        write(f"{'':5} {'idx':>4}  {'virtual':10}  {'entry':10}  {'points to':10}  "
              f"{FLAG_COLUMNS}")
        pdes = large = ptes = skipped_pdes = skipped_ptes = 0
        for i in range(first, last + 1):
            raw, base = directory[i], i << 22
            if not raw & paging.PRESENT:
                skipped_pdes += 1
                continue
            pdes += 1
            if large_pages and raw & paging.PS:
                large += 1
                write(entry_row("PDE", i, base, raw, raw & paging.LARGE_FRAME_MASK,
                                "4 MiB page"))
                continue
            note = "page table" + ("; PS ignored: CR4.PSE is off" if raw & paging.PS else "")
            write(entry_row("PDE", i, base, raw, raw & paging.FRAME_MASK, note))
            entries = struct.unpack(f"<{paging.ENTRIES}I", tables[i])
            lo = paging.ptx(start) if i == first else 0
            hi = paging.ptx(end - 1) if i == last else paging.ENTRIES - 1
            absent = 0
            for j in range(lo, hi + 1):
                pte = entries[j]
                if pte & paging.PRESENT:
                    ptes += 1
                    write(entry_row("PTE", j, base | j << 12, pte, pte & paging.FRAME_MASK))
                else:
                    absent += 1
            skipped_ptes += absent
            if absent:
                write(f"  ({absent} not-present PTE{'s' if absent > 1 else ''} skipped)")
        write(f"present: {pdes} PDEs ({large} 4 MiB pages, {pdes - large} page tables), "
              f"{ptes} PTEs; not present, skipped: {skipped_pdes} PDEs, {skipped_ptes} PTEs")
        empty = empty_directory_note(cr3, raw_directory)
        if empty:
            write(empty)

    @staticmethod
    def dump_pae(cr3: int, start: int, end: int) -> None:
        """Under CR4.PAE: the PDPT, directories and tables (the whole space
        read, as mm map does), printed by harness.decode.pae_dump."""
        aspace = walk(cr3)
        assert isinstance(aspace, pae.PaeAddressSpace)  # walk() follows CR4.PAE
        write(f"page tables of {describe_space(cr3)}, {start:#010x}-{end:#010x}; PAE, "
              f"PDPT at {cr3 & pae.CR3_PDPT_MASK:#010x}, EFER.NXE {'on' if aspace.nxe else 'off'}")
        for line in pae_dump.dump(aspace, start, end):
            write(line)
        note = empty_pdpt_note(aspace)
        if note:
            write(note)


COMMANDS = (MapCommand, VtopCommand, PtCommand)
