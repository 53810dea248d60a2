"""ASLR: each process's stack top, heap base and shared-memory base are
random, page aligned, never overlapping, with measured entropy; seeded boots
repeat; aslr=off gives the documented bases."""

import pytest

from harness.targets.mmverify.constants import firmware_constants
from harness.targets.mmverify.layouts import Layout, entropy_bits, spawned_layouts

SAMPLES = 1024


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
