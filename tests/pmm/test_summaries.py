"""The pure rules in summaries.py, without a machine: what the PMM tests
compare the kernel's levels and hint with must itself be right."""

from tests.pmm.summaries import FULL, NONE, hint, level0_words, summary_levels


def test_padding_bits_past_the_last_frame_are_set():
    assert level0_words(0, 40) == [0, 0xFFFFFF00]
    assert level0_words(1 << 39, 40) == [0, 0xFFFFFF80]
    assert level0_words(0, 64) == [0, 0]


def test_one_summary_bit_per_full_word_and_padding_set():
    level0 = [FULL, 0, FULL] + [0] * 30 + [FULL]  # 34 words: two summary words
    levels = summary_levels(level0)
    assert levels[1] == [0b101, 0xFFFFFFFE]  # word 33 full; bits 34.. padding
    assert levels[2] == [0xFFFFFFFC]  # neither level-1 word is full
    assert len(levels) == 3


def test_a_full_summary_word_sets_its_bit_one_level_up():
    levels = summary_levels([FULL] * 32 + [1])
    assert levels[1] == [FULL, 0xFFFFFFFE]
    assert levels[2] == [0xFFFFFFFD]


def test_a_single_word_has_no_summary():
    assert summary_levels([5]) == [[5]]


def test_hint_is_the_lowest_word_with_a_free_frame():
    assert hint([FULL, FULL, 7, 0]) == 2
    assert hint([FULL, FULL]) == NONE
