"""A Python model of one process's mmap regions and page contents, for the
model-based test (tests/process/test_mmap_model.py): what mmap, munmap,
mprotect, reads, writes and fork should do, by the rules of
include/mm/mmap.h and issue 17's fork contract, written independently of
the kernel's code.

The model keeps pages, not regions: every mapped page has its (prot, kind),
and the region list is the pages grouped into maximal runs of equal
(prot, kind), which is what the kernel's sorted, merged list must equal.
Each resident page is a :class:`Page` object standing for one frame: fork
gives the child the very same objects (a shared region's pages stay one
frame for good, a private one's until a write copies it), so two processes
holding the same object must map the same frame, different objects different
frames, and ``Page.refs`` (the models holding it) is the frame's reference
count."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.process.vmdriver import (
    EACCES,
    EEXIST,
    EINVAL,
    ENOMEM,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_SHARED,
    PAGE,
    PROT_EXEC,
    PROT_NONE,
    PROT_WRITE,
    Region,
)

REGIONS_MAX = 32  # PROC_REGIONS_MAX, the default mappings limit


class Page:
    """One frame: its contents and how many process models map it."""

    def __init__(self, data: bytes = bytes(PAGE)) -> None:
        self.data = bytearray(data)
        self.refs = 1


@dataclass
class VmModel:
    mmap_base: int
    area_end: int = 0x80000000
    pages: dict[int, tuple[int, int]] = field(default_factory=dict)  # va -> (prot, kind)
    contents: dict[int, Page] = field(default_factory=dict)          # resident pages only
    cow: set[int] = field(default_factory=set)  # resident pages mapped copy-on-write

    # -- what the kernel's state must equal ---------------------------------------------

    def regions(self, pages: dict[int, tuple[int, int]] | None = None) -> list[Region]:
        pages = self.pages if pages is None else pages
        out: list[Region] = []
        for va in sorted(pages):
            prot, kind = pages[va]
            last = out[-1] if out else None
            if last and last.end == va and (last.prot, last.flags) == (prot, kind):
                out[-1] = Region(last.start, va + PAGE, prot, kind)
            else:
                out.append(Region(va, va + PAGE, prot, kind))
        return out

    def writable(self, va: int) -> bool:
        """The region allows writes (a write does not kill the process)."""
        return bool(self.pages[va][0] & PROT_WRITE)

    def pte_writable(self, va: int) -> bool:
        """The resident page's PTE has the write bit (COW ones do not)."""
        return self.writable(va) and va not in self.cow

    # -- the operations: each returns what the system call must return ----------------------

    def _free(self, start: int, npages: int) -> bool:
        return all(start + i * PAGE not in self.pages for i in range(npages))

    def _count_ok(self, new_pages: dict[int, tuple[int, int]]) -> bool:
        count = len(self.regions(new_pages))
        return count <= REGIONS_MAX or count <= len(self.regions())

    def _release(self, va: int) -> None:
        """The page's frame is unmapped here (one reference less)."""
        page = self.contents.pop(va, None)
        if page is not None:
            page.refs -= 1
        self.cow.discard(va)

    def _drop(self, va: int) -> None:
        self.pages.pop(va, None)
        self._release(va)

    def _make_guard(self, va: int) -> None:
        """mprotect(PROT_NONE) of a mapped page: the page is kept, frame,
        reference, contents and COW mark, in a not-present entry (mm/mmap.h).
        Were a guard to drop its pages, ``self._release(va)`` here is all."""

    def mmap(self, addr: int, npages: int, prot: int, flags: int) -> int:
        kind = flags & 0x3
        if prot & PROT_WRITE and prot & PROT_EXEC:
            return -EACCES
        if kind == MAP_SHARED and prot == PROT_NONE:
            return -EINVAL
        fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)
        if flags & MAP_FIXED_NOREPLACE and not self._free(addr, npages):
            return -EEXIST
        if fixed or (addr and self._free(addr, npages)):
            start = addr
        else:
            start = self._first_fit(npages)
            if start is None:
                return -ENOMEM
        new = dict(self.pages)
        for i in range(npages):
            new[start + i * PAGE] = (prot, kind)
        if not self._count_ok(new):
            return -ENOMEM
        for i in range(npages):
            self._drop(start + i * PAGE)
        self.pages = new
        if kind == MAP_SHARED:  # backed at once
            for i in range(npages):
                self.contents[start + i * PAGE] = Page()
        return start

    def _first_fit(self, npages: int) -> int | None:
        for lo, hi in ((self.mmap_base, self.area_end), (0x40000000, self.mmap_base)):
            at = lo
            while at + npages * PAGE <= hi:
                if self._free(at, npages):
                    return at
                at += PAGE
        return None

    def munmap(self, addr: int, npages: int) -> int:
        span = [addr + i * PAGE for i in range(npages)]
        if not any(va in self.pages for va in span):
            return 0
        new = {va: v for va, v in self.pages.items() if va not in span}
        if not self._count_ok(new):
            return -ENOMEM
        for va in span:
            self._drop(va)
        return 0

    def mprotect(self, addr: int, npages: int, prot: int) -> int:
        span = [addr + i * PAGE for i in range(npages)]
        if prot & PROT_WRITE and prot & PROT_EXEC:
            return -EACCES
        if not all(va in self.pages for va in span):
            return -ENOMEM
        if prot == PROT_NONE and any(self.pages[va][1] == MAP_SHARED for va in span):
            return -EINVAL
        new = dict(self.pages)
        for va in span:
            new[va] = (prot, self.pages[va][1])
        if not self._count_ok(new):
            return -ENOMEM
        self.pages = new
        for va in span:
            if prot == PROT_NONE:
                self._make_guard(va)
            elif va in self.contents and new[va][1] != MAP_SHARED:
                # Writable only if no one else maps the frame: else COW.
                if prot & PROT_WRITE and self.contents[va].refs > 1:
                    self.cow.add(va)
                else:
                    self.cow.discard(va)
        return 0

    def _resident(self, page: int) -> Page:
        if page not in self.contents:  # demand-zero
            self.contents[page] = Page()
        return self.contents[page]

    def write(self, va: int, value: int) -> None:
        page = va & ~(PAGE - 1)
        frame = self._resident(page)
        if page in self.cow:  # copy, or take back as the last holder
            self.cow.discard(page)
            if frame.refs > 1:
                frame.refs -= 1
                frame = self.contents[page] = Page(frame.data)
        frame.data[va - page:va - page + 4] = value.to_bytes(4, "little")

    def read(self, va: int) -> int:
        page = va & ~(PAGE - 1)
        data = self._resident(page).data  # a read maps it too
        return int.from_bytes(data[va - page:va - page + 4], "little")

    # -- fork and exit --------------------------------------------------------------------

    def fork(self) -> VmModel:
        """The child's model: the same pages (one more reference each); every
        private page that is writable, COW or kept under PROT_NONE becomes COW
        in both, read-only private pages and shared pages are shared as they
        are."""
        child = VmModel(self.mmap_base, self.area_end, dict(self.pages),
                        dict(self.contents), set(self.cow))
        for va, frame in self.contents.items():
            frame.refs += 1
            prot, kind = self.pages[va]
            if kind != MAP_SHARED and (prot & PROT_WRITE or prot == PROT_NONE or va in self.cow):
                self.cow.add(va)
                child.cow.add(va)
        return child

    def exit(self) -> None:
        """The process ends: every page's reference goes."""
        for va in list(self.pages):
            self._drop(va)
