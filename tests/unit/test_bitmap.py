"""The frame-bitmap helpers, checked against a plain list of bools."""

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

