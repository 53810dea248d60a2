"""Frames freed in full words and full summary groups are found again, in
order, with the whole PMM state exact after every step.

A word that fills up sets its bit in the level-1 summary, and a summary word
that fills sets its bit a level up; a free in a full word must clear them all
the way up, or the descent that looks for the next free word skips it and
its free frames are lost for good.  The descent only runs when the hint word
fills, so each test frees a frame high in the full span first and then one
in its lowest word: the allocator takes the low one from the hint word, must
descend, and must land on the high one next."""

import pytest

from tests.pmm.exact import ExactPmm
from tests.pmm.summaries import WORD

GROUP = WORD * WORD  # frames under one level-1 summary word


@pytest.mark.machine(memory="16M")
@pytest.mark.parametrize("span", [WORD, GROUP], ids=["word", "summary-group"])
def test_frames_freed_in_a_full_span_are_handed_out_again_lowest_first(kernel, span):
    pmm = ExactPmm(kernel)
    first = pmm.bitmap().first_clear()
    start = first // span * span
    # The span of the lowest free frame and the next span with a free frame:
    # every frame of both taken, so the second is full while the first fills.
    second = pmm.bitmap().first_clear(start + span) // span * span
    ours = pmm.free_frames_in(start, second + span)
    pmm.fill(second + span)
    assert pmm.allocate() >= second + span, "the next frame comes from past both spans"

    high, low = ours[-1], ours[0]  # the second span's last frame, the first's lowest
    pmm.free(high)
    pmm.free(low)
    assert pmm.allocate() == low, "the hint word's frame"
    assert pmm.allocate() == high, "then the frame freed in the full span, found by the descent"


@pytest.mark.machine(memory="16M")
def test_a_frame_freed_in_a_full_word_below_the_hint_is_next(kernel):
    """Freeing lowers the hint to the freed frame's word when it is below it."""
    pmm = ExactPmm(kernel)
    first = pmm.bitmap().first_clear()
    pmm.fill((first // WORD + 1) * WORD)  # the lowest free word is full now
    pmm.allocate()
    pmm.free(first)
    assert pmm.allocate() == first
