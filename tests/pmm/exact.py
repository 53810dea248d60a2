"""The PMM's whole state, predicted and compared after every step: the used
bitmap, every counter of pmm_stats, every summary level and the hint.

A test drives the kernel through :class:`ExactPmm`, which predicts each
result from the PMM's rule (the lowest free frame first, first fit for runs)
before the call and asserts the kernel returned exactly that."""

from __future__ import annotations

from harness.decode.bitmap import Bitmap
from harness.targets.mmverify.buddy_model import MAX_ORDER
from harness.targets.mmverify.kernel import Kernel
from harness.targets.mmverify.pmm_audit import buddy_model
from tests.pmm import summaries

FRAME = 4096


class ExactPmm:
    def __init__(self, kernel: Kernel) -> None:
        self.k = kernel
        self.m = kernel.m
        used, self.reserved = kernel.pmm_bitmaps()
        self.frames = used.count
        self.used = used.value
        self.stats = kernel.pmm_stats()
        self.check()

    def bitmap(self) -> Bitmap:
        return Bitmap(self.used.to_bytes((self.frames + 7) // 8, "little"), self.frames)

    def free_frames_in(self, first: int, end: int) -> list[int]:
        """The free frames in [first, end), lowest first."""
        return [f for f in range(first, min(end, self.frames)) if not self.used >> f & 1]

    def check(self) -> None:
        """The kernel's state is exactly the model's."""
        levels = self.k.pmm_levels()
        expected = summaries.summary_levels(summaries.level0_words(self.used, self.frames))
        assert levels[0] == expected[0], "the used bitmap"
        for k in range(1, len(expected)):
            assert levels[k] == expected[k], f"summary level {k}"
        assert len(levels) == len(expected), "number of levels"
        assert self.k.pmm_hint() == summaries.hint(levels[0]), "the hint"
        assert self.k.pmm_stats() == self.stats
        assert self.k.pmm_bitmaps()[1].value == self.reserved.value, "reserved bitmap unchanged"

    def allocate(self) -> int:
        """allocate_page: the lowest free frame, or NULL with the failure counted."""
        expected = self.bitmap().first_clear()
        pa = self.m.call("allocate_page")
        if expected is None:
            assert pa == 0, "memory is exhausted: NULL"
            self.stats["failed_allocations"] += 1
        else:
            assert pa == expected * FRAME, "the lowest free frame"
            self.used |= 1 << expected
            self.stats["free_frames"] -= 1
        self.check()
        return expected

    def allocate_run(self, n: int) -> int:
        """allocate_pages(n): a buddy block for 2 .. 1024 frames (predicted
        from the kernel's lists), else the lowest run of n free frames."""
        if 2 <= n <= 1 << MAX_ORDER:
            expected = buddy_model(self.k).allocate_pages(n)
        else:
            expected = self.bitmap().first_clear_run(n)
        pa = self.m.call("allocate_pages", n)
        if expected is None:
            assert pa == 0
            self.stats["failed_allocations"] += 1
        else:
            assert pa == expected * FRAME, "the run the PMM's rule gives"
            self.used |= ((1 << n) - 1) << expected
            self.stats["free_frames"] -= n
        self.check()
        return expected

    def fill(self, end: int) -> None:
        """Allocates every free frame below ``end``, a run at a time where
        the free frames are contiguous (allocate_pages), the last one of each
        run alone (allocate_page), so both paths fill words."""
        while (first := self.bitmap().first_clear()) is not None and first < end:
            run = 1
            while first + run < end and not self.used >> (first + run) & 1:
                run += 1
            if run > 1:
                self.allocate_run(run - 1)
            self.allocate()

    def free(self, frame: int) -> None:
        assert self.used >> frame & 1, "the test frees only frames it holds"
        self.m.call("free_page", frame * FRAME)
        self.used &= ~(1 << frame)
        self.stats["free_frames"] += 1
        self.check()
