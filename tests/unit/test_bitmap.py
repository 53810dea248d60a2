"""The frame-bitmap helpers, checked against a plain list of bools."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.decode.bitmap import Bitmap

bit_lists = st.lists(st.booleans(), min_size=1, max_size=300)


def pack(bits):
    value = sum(1 << i for i, b in enumerate(bits) if b)
    return value.to_bytes((len(bits) + 7) // 8 + 1, "little"), len(bits)


@given(bit_lists)
def test_counts_and_indexing(bits):
    bm = Bitmap(*pack(bits))
    assert bm.set_count() == sum(bits)
    assert bm.clear_count() == len(bits) - sum(bits)
    assert [bm[i] for i in range(len(bits))] == bits
    assert bm.set_bits() == [i for i, b in enumerate(bits) if b]


@given(bit_lists, st.integers(0, 310))
def test_first_clear(bits, start):
    expected = next((i for i in range(start, len(bits)) if not bits[i]), None)
    assert Bitmap(*pack(bits)).first_clear(start) == expected


@given(bit_lists, st.integers(1, 40))
def test_first_clear_run(bits, n):
    expected = next((i for i in range(len(bits) - n + 1) if not any(bits[i:i + n])), None)
    assert Bitmap(*pack(bits)).first_clear_run(n) == expected


@given(bit_lists)
def test_runs(bits):
    def runs_of(value):
        out, i = [], 0
        while i < len(bits):
            if bits[i] == value:
                j = i
                while j < len(bits) and bits[j] == value:
                    j += 1
                out.append((i, j))
                i = j
            else:
                i += 1
        return out

    bm = Bitmap(*pack(bits))
    assert bm.runs(True) == runs_of(True)
    assert bm.runs(False) == runs_of(False)


def test_padding_beyond_count_is_ignored():
    bm = Bitmap(b"\xff\xff", 10)
    assert bm.set_count() == 10 and bm.first_clear() is None



def test_count_may_fill_the_last_byte_exactly():
    assert Bitmap(b"\xff", 8).set_count() == 8
    assert Bitmap(b"\x00\x80", 16).set_bits() == [15]


def test_count_beyond_the_data_is_an_error():
    with pytest.raises(ValueError, match=r"^9 bits do not fit in 1 bytes$"):
        Bitmap(b"\x00", 9)


def test_index_out_of_range():
    bm = Bitmap(b"\x05", 3)
    assert [bm[0], bm[1], bm[2]] == [True, False, True]
    for i in (3, -1):
        with pytest.raises(IndexError) as e:
            bm[i]
        assert e.value.args == (i,)


def test_last_bit_of_a_32_bit_word_and_the_next():
    data = (1 << 31 | 1 << 33).to_bytes(8, "little")
    bm = Bitmap(data, 64)
    assert (bm[30], bm[31], bm[32], bm[33]) == (False, True, False, True)
    assert bm.set_bits() == [31, 33]
    assert bm.first_clear(31) == 32
    assert bm.runs() == [(31, 32), (33, 34)]


@pytest.mark.parametrize("value,start,expected", [
    (0b0000, 1, 1),      # clear bits before start do not count
    (0b0010, 1, 2),
    (0b0110, 1, 3),
    (0b0111, 0, 3),
    (0b1111, 0, None),   # every bit of count 4 set
    (0b0000, 3, 3),      # the last bit
    (0b0000, 4, None),   # start == count
    (0b0000, 9, None),
])
def test_first_clear_examples(value, start, expected):
    assert Bitmap(bytes([value]), 4).first_clear(start) == expected


@pytest.mark.parametrize("value,n,expected", [
    (0b00000001, 2, 1),   # the run starts after a set bit
    (0b00000010, 2, 2),   # a run of 1 at 0 is too short: the search goes on
    (0b00010010, 3, 5),   # too short twice; the last run reaches the end of the map
    (0b01000000, 2, 0),
    (0b00000010, 1, 0),
    (0b10101010, 2, None),
    (0b00000000, 8, 0),
    (0b00000000, 9, None),  # longer than the map
])
def test_first_clear_run_examples(value, n, expected):
    assert Bitmap(bytes([value]), 8).first_clear_run(n) == expected


def test_runs_default_to_set_bits_and_reach_the_end():
    bm = Bitmap(bytes([0b11001110]), 8)
    assert bm.runs() == [(1, 4), (6, 8)]
    assert bm.runs(False) == [(0, 1), (4, 6)]
    assert Bitmap(b"\x00", 0).runs() == [] and Bitmap(b"\x00", 0).runs(False) == []
