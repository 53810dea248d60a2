"""What the swap tests share: the kernel's swap counters and a process's swap
entries, read from outside (GDB and guest RAM)."""

from harness.decode.swap import slot_of
from harness.targets.mmverify.kernel import Kernel
from harness.targets.mmverify.processes import Userland

PAGE = 4096


def swap_stats(kernel: Kernel) -> dict[str, int]:
    return dict(kernel.read_struct("swap_stats", "swap_stats"))


def swap_entries(userland: Userland, pid: int, start: int, end: int) -> dict[int, int]:
    """va -> slot for every swap entry of pid's space in [start, end)."""
    return {va: slot_of(raw) for va, raw in userland.address_space(pid).swap_pages(start, end)}
