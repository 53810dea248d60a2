"""Layout soundness and the entropy estimate (pure)."""

from harness.targets.mmverify.layouts import Layout, entropy_bits


def test_entropy_estimate():
    assert entropy_bits([1] * 8) == 0
    assert entropy_bits(range(1024)) == 10
    assert entropy_bits([0, 0, 1, 1]) == 1


def test_layout_problems():
    assert Layout(0x80000000, 0xA0000000, 0xC0000000).problems() == []
    assert Layout(0x80000000, 0x88000000, 0xC0000000).problems() == [
        "heap and its room overlap shared memory"]
    assert "shared memory overlaps the stack or its guard page" in Layout(
        0x80000000, 0xBC000000, 0xC0000000).problems()
