"""The savevm/loadvm wait grows with guest RAM, the boot wait with vCPUs
(harness.timeouts.snapshot, harness.timeouts.boot)."""

import pytest

from harness import timeouts


@pytest.fixture
def scale():
    """set_scale, with the run's own scale put back afterwards."""
    before = timeouts.scaled(1)
    yield timeouts.set_scale
    timeouts.set_scale(before)


def test_snapshot_wait_is_qmp_plus_six_seconds_per_gib(scale):
    scale(1)
    assert [timeouts.snapshot(mib) for mib in (64, 1024, 6144)] == [10.375, 16.0, 46.0]


def test_snapshot_wait_follows_the_timeout_scale(scale):
    scale(2.5)
    assert timeouts.snapshot(6144) == 115.0


def test_boot_wait_grows_by_two_seconds_per_extra_cpu(scale):
    """A kernel may wait on each AP it starts (this firmware: up to 2 s for
    one that never answers), so -smp 4 with dead APs still boots in time."""
    scale(1)
    assert [timeouts.boot(10.0, cpus) for cpus in (1, 2, 4, 8)] == [10.0, 12.0, 16.0, 24.0]
    scale(2)
    assert timeouts.boot(10.0, 4) == 32.0
