"""A debugger's poke: a free frame marked used in the bitmap behind the
PMM's back, with pmm_stats.free_frames lowered to match (as a careful
debugger would), so that what stays inconsistent is exactly what the PMM
cannot know: its buddy maps still count the frame free until a block
request takes its block and rebuilds them."""


def poke_used(machine, kernel, pfn: int) -> None:
    word = kernel.pmm_bitmap_word_address(pfn)
    old = machine.read_u32(word)
    assert not old >> pfn % 32 & 1, f"frame {pfn:#x} is used already"
    machine.write_u32(word, old | 1 << pfn % 32)
    counter = kernel.field_address("pmm_stats", "pmm_stats", "free_frames")
    machine.write_u32(counter, machine.read_u32(counter) - 1)
