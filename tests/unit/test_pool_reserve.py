"""harness.decode.pools.reserve_chain, the one reserve walker (mm
pools and the tests use it), on a memory given as a dict of words: it
follows each object's first word to a null link, and a chain that does not
end where the pool says stops one object past the limit instead of looping."""

from harness.decode.pools import reserve_chain


def reader(words):
    return lambda addr: words[addr]


def test_a_chain_ends_at_its_null_link():
    words = {0xC1000000: 0xC1005000, 0xC1005000: 0xC1002000, 0xC1002000: 0}
    assert reserve_chain(reader(words), 0xC1000000, 4) == [0xC1000000, 0xC1005000, 0xC1002000]


def test_an_empty_reserve_reads_nothing():
    assert reserve_chain(reader({}), 0, 4) == []


def test_a_cycle_stops_one_object_past_the_limit():
    words = {0x1000: 0x2000, 0x2000: 0x1000}
    assert reserve_chain(reader(words), 0x1000, 4) == [0x1000, 0x2000, 0x1000, 0x2000, 0x1000]


def test_a_chain_longer_than_the_limit_shows_as_too_long():
    words = {a: a + 0x1000 for a in range(0x1000, 0x9000, 0x1000)} | {0x9000: 0}
    assert len(reserve_chain(reader(words), 0x1000, 4)) == 5
