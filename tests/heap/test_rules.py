"""The pure rules in rules.py, without a machine."""

from tests.heap.rules import class_for, largest_sizes, realloc_stays

CAPACITIES = [32, 48, 64, 2064]


def test_a_class_takes_requests_up_to_its_capacity_minus_the_red_zone():
    assert [class_for(CAPACITIES, n) for n in (1, 28, 29, 44, 45, 60, 61)] == \
        [0, 0, 1, 1, 2, 2, 3]
    assert largest_sizes(CAPACITIES) == [28, 44, 60, 2048]


def test_past_the_small_limit_and_zero_are_not_slab_requests():
    assert class_for(CAPACITIES, 2048) == 3
    assert class_for(CAPACITIES, 2049) is None
    assert class_for(CAPACITIES, 0) is None


def test_realloc_keeps_a_block_that_fits_without_wasting_half_its_slot():
    assert realloc_stays(64, 60) and realloc_stays(64, 30)
    assert not realloc_stays(64, 29), "less than half of the 60 usable bytes"
    assert not realloc_stays(64, 61), "does not fit"
    assert realloc_stays(2064, 1025), "big blocks stay even if they shrink a lot"
