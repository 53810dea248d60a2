"""What the PMM's summary levels and hint must be for a given frame bitmap
(pure: the rules of firmware/mm/pmm.c, checked against the kernel's own
levels by the tests that import this).

Level 0 is the frame bitmap, one bit per frame (set = used), padded with set
bits to whole words.  Bit j of level k is set exactly when word j of level
k-1 is full; the bits past the last word of the level below are padding and
stay set.  The levels stop at a level of a single word.  The hint is the
lowest level-0 word with a clear bit, NONE when every word is full."""

from __future__ import annotations

WORD = 32
FULL = 0xFFFFFFFF
NONE = 0xFFFFFFFF


def level0_words(used: int, frames: int) -> list[int]:
    """The level-0 words for the used-frame bits ``used`` of ``frames``
    frames: the bits past the last frame are set (padding)."""
    words = (frames + WORD - 1) // WORD
    padded = used | (((1 << (words * WORD)) - 1) ^ ((1 << frames) - 1))
    return [padded >> (i * WORD) & FULL for i in range(words)]


def summary_of(below: list[int]) -> list[int]:
    """The summary level over the words ``below``: a bit per full word,
    the bits past the last word set."""
    words = [FULL] * ((len(below) + WORD - 1) // WORD)
    for j, w in enumerate(below):
        if w != FULL:
            words[j // WORD] &= ~(1 << (j % WORD)) & FULL
    return words


def summary_levels(level0: list[int]) -> list[list[int]]:
    """Every level, level 0 first, as the kernel must have them over ``level0``."""
    levels = [list(level0)]
    while len(levels[-1]) > 1:
        levels.append(summary_of(levels[-1]))
    return levels


def hint(level0: list[int]) -> int:
    """The lowest level-0 word with a free frame, or NONE."""
    return next((i for i, w in enumerate(level0) if w != FULL), NONE)
