"""The PMM with two levels (4 MiB of RAM: at most 32 level-0 words, so one
summary word): a word filled behind the allocator's back, found by the
descent for the next free word, must be repaired there too, not taken for
the end of memory.

With 16 MiB and more the levels are three or more, so only a small machine
reaches first_free_word's repair with exactly two levels.  The poked word
must not be the hint word (allocate_slow repairs that one itself before
descending): it is the next word with a free frame, found when the hint
word fills up."""

import pytest

FRAME = 4096
FULL = 0xFFFFFFFF


@pytest.mark.pmm_poked
@pytest.mark.machine(memory="4M")
def test_a_word_filled_behind_the_allocators_back_is_skipped_with_two_levels(machine, kernel):
    levels = kernel.pmm_levels()
    assert len(levels) == 2, "4 MiB is at most 32 level-0 words: one summary word"
    used, _ = kernel.pmm_bitmaps()
    first = used.first_clear()
    hint_word = first // 32
    assert kernel.pmm_hint() == hint_word
    hint_frames = [f for f in range(hint_word * 32, hint_word * 32 + 32) if not used[f]]
    poked_word = used.first_clear((hint_word + 1) * 32) // 32
    assert levels[1][0] & (1 << poked_word) == 0, "the summary says it has a free frame"
    machine.write_u32(kernel.pmm_bitmap_word_address(poked_word * 32), FULL)
    beyond = used.first_clear((poked_word + 1) * 32)  # the lowest free frame left after the poke

    taken = [machine.call("allocate_page") for _ in range(len(hint_frames) + 2)]
    assert taken == [f * FRAME for f in hint_frames] + [beyond * FRAME,
                                                        used.first_clear(beyond + 1) * FRAME]
    assert kernel.pmm_levels()[1][0] & (1 << poked_word), "the repair set its summary bit"
