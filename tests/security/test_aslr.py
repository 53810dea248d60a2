"""ASLR: each process's stack top, heap base and shared-memory base are
random, page aligned, never overlapping, with measured entropy; seeded boots
repeat; aslr=off gives the documented bases."""

import pytest

from harness.targets.mmverify.constants import firmware_constants
from harness.targets.mmverify.layouts import Layout, entropy_bits, spawned_layouts

SAMPLES = 1024
PAGE = 4096


def sample(machine, userland, count):
    mark = machine.mark()
    userland.spawn("cycler", f"{count} hello")
    userland.run(timeout=300)
    return spawned_layouts(machine, "hello", mark)


@pytest.mark.machine(modules=["user/*"])
def test_entropy_of_a_thousand_layouts(machine, userland, firmware):
    samples = sample(machine, userland, SAMPLES)
    assert len(samples) == SAMPLES
    room = firmware_constants(firmware.kernel)
    for layout in samples:
        assert layout.problems(room) == [], layout
    for name in ("heap", "shm", "stack"):
        values = [getattr(s, name) for s in samples]
        bits = entropy_bits(values)
        assert bits >= 9.5, f"{name}: {bits:.2f} bits, {len(set(values))} distinct"


@pytest.mark.cold_boot
@pytest.mark.machine(modules=["user/*"], cmdline="aslr_seed=4242")
def test_a_seed_repeats_the_layouts(machine, userland, boot):
    first = sample(machine, userland, 5)
    again = boot(modules=["user/*"], cmdline="aslr_seed=4242")
    again.run_to("kernel_ready")
    from harness.targets.mmverify.processes import Userland

    assert sample(again, Userland(again, userland.user_dir), 5) == first
    assert machine.records("ASLR")[0]["mode"] == "seed"


@pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")
def test_aslr_off_gives_the_documented_bases(machine, userland):
    samples = sample(machine, userland, 3)
    assert set(samples) == {Layout(0x80000000, 0xA0000000, 0xC0000000)}
    assert machine.records("ASLR")[0]["mode"] == "off"


@pytest.mark.machine(modules=["user/*"], cpu="qemu32")
def test_without_rdrand_the_tsc_and_pit_are_mixed(machine, userland):
    assert machine.records("ASLR")[0]["mode"] == "tsc-pit"
    samples = sample(machine, userland, 64)
    assert len(set(samples)) == 64, "distinct layouts without RDRAND too"


def xorshift32(state):
    """Marsaglia's xorshift32 (shifts 13, 17, 5): the stream a seeded kernel draws from."""
    while True:
        state ^= state << 13 & 0xFFFFFFFF
        state ^= state >> 17
        state ^= state << 5 & 0xFFFFFFFF
        yield state


def pick(base, span, r):
    """A page in [base, base + span), as aslr.c's pick() draws it from r."""
    return base + r % (span // PAGE) * PAGE


@pytest.mark.parametrize("seed", [
    pytest.param(seed, marks=pytest.mark.machine(modules=["user/*"], cmdline=f"aslr_seed={seed}"))
    for seed in (4242, 0)])
def test_a_seed_gives_exactly_its_xorshift_stream(machine, userland, seed):
    """With aslr_seed=N (0 counts as 1) the boot's stack canary takes the
    first value, then each spawn picks heap, shm, stack and mmap base from the
    next four (sample's cycler first, then its hellos)."""
    stream = xorshift32(seed or 1)
    assert machine.read_u32(machine.symbol("__stack_chk_guard")) == next(stream) | 0xFF
    for _ in range(4):  # the cycler's
        next(stream)
    want = []
    for _ in range(3):
        heap, shm, stack = next(stream), next(stream), next(stream)
        next(stream)  # its mmap_base (tests/process/test_mmap.py checks those)
        want.append(Layout(pick(0x80000000, 0x08000000, heap), pick(0x98000000, 0x10000000, shm),
                           pick(0xB0000000, 0x10000000, stack) + PAGE))
    assert sample(machine, userland, 3) == want
