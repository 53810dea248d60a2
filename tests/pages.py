"""Page contents the compressor and the swap pool are tested with."""

from __future__ import annotations

import random

PAGE = 4096
WORDS = ["page", "frame", "swap", "slot", "clock", "dirty", "the", "of", "kernel", "pool"]


def text_page(seed: int) -> bytes:
    """4 KiB of words of a small vocabulary in a seeded random order: text
    that compresses a little more than 2:1."""
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < PAGE:
        out += (rnd.choice(WORDS) + " ").encode()
    return bytes(out[:PAGE])
