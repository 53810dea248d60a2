"""The savevm/loadvm wait grows with guest RAM (harness.timeouts.snapshot)."""

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
