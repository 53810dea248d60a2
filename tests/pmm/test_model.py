"""A hypothesis state machine drives the PMM through GDB against a Python
model of the frames: lowest-first allocation, exact counts, no frame twice,
bad frees refused, poked frames skipped."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from harness.bitmap import Bitmap
from harness.kernel import Kernel
from harness.pytest_plugin import machine_config

FRAME = 4096


@pytest.mark.machine(memory="16M")
def test_pmm_against_a_model(request, firmware, machine_pool):
    cfg = machine_config(request, firmware)

    class PmmModel(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.m = machine_pool.acquire(cfg)  # pristine for every example
            self.k = Kernel(self.m)
            used, self.reserved = self.k.pmm_bitmaps()
            self.count = used.count
            self.used = used.value
            self.free_counter = self.k.pmm_stats()["free_frames"]
            self.runs: list[tuple[int, int]] = []  # (first frame, n) we allocated
            self.freed: list[int] = []
            self.double_frees = self.k.pmm_stats()["double_frees"]

        def model(self) -> Bitmap:
            return Bitmap(self.used.to_bytes((self.count + 7) // 8, "little"), self.count)

        def take(self, first, n):
            for f in range(first, first + n):
                assert not self.used >> f & 1, f"frame {f} handed out twice"
                self.used |= 1 << f
            self.free_counter -= n
            self.runs.append((first, n))

        @rule()
        def allocate(self):
            expected = self.model().first_clear()
            pa = self.m.call("allocate_page")
            if expected is None:
                assert pa == 0
            else:
                assert pa == expected * FRAME
                self.take(expected, 1)

        @rule(n=st.integers(1, 40))
        def allocate_run(self, n):
            expected = self.model().first_clear_run(n)
            pa = self.m.call("allocate_pages", n)
            if expected is None:
                assert pa == 0
            else:
                assert pa == expected * FRAME
                self.take(expected, n)

        @precondition(lambda self: self.runs)
        @rule(data=st.data())
        def free(self, data):
            first, n = self.runs.pop(data.draw(st.integers(0, len(self.runs) - 1)))
            self.m.call("free_pages", first * FRAME, n)
            for f in range(first, first + n):
                self.used &= ~(1 << f)
                self.freed.append(f)
            self.free_counter += n

        @precondition(lambda self: self.freed)
        @rule(data=st.data())
        def double_free(self, data):
            frame = data.draw(st.sampled_from(self.freed))
            if self.used >> frame & 1:
                return  # reallocated since: not a double free any more
            self.m.call("free_page", frame * FRAME)
            self.double_frees += 1

        @rule(skip=st.integers(0, 40))
        def poke(self, skip):
            """Mark a free frame used behind the allocator's back."""
            frame = self.model().first_clear()
            for _ in range(skip):
                if frame is None:
                    break
                frame = self.model().first_clear(frame + 1)
            if frame is None:
                return
            addr = self.k.pmm_bitmap_word_address(frame)
            self.m.write_u32(addr, self.m.read_u32(addr) | 1 << (frame % 32))
            self.used |= 1 << frame  # the kernel's counter does not know

        @invariant()
        def kernel_matches_model(self):
            used, reserved = self.k.pmm_bitmaps()
            assert used.value == self.used
            assert reserved.value == self.reserved.value
            stats = self.k.pmm_stats()
            assert stats["free_frames"] == self.free_counter
            assert stats["double_frees"] == self.double_frees

    PmmModel.TestCase.settings = settings(
        max_examples=20, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    PmmModel.TestCase().runTest()
