"""The aligned text tables of `make demo` and the mm GDB commands."""

import pytest

from harness.decode.text import table


def test_columns_take_the_widest_cell_and_numbers_align_right():
    text = table(["name", "frames"], [["kernel", 12], ["heap", 1024]])
    assert text.splitlines() == [
        "  name  frames",
        "kernel      12",
        "  heap    1024",
    ]


def test_left_columns_align_left_and_lines_lose_trailing_spaces():
    text = table(["name", "n", "note"], [["a", 1, "x"], ["bbb", 22, ""]], left=(0, 2))
    assert text.splitlines() == [
        "name   n  note",
        "a      1  x",
        "bbb   22",
    ]


def test_a_header_wider_than_every_cell_sets_the_width():
    assert table(["address", "r"], [[1, 2]]) == "address  r\n      1  2"


def test_no_rows_is_the_header_alone():
    assert table(["a", "bb"], []) == "a  bb"


def test_a_row_of_the_wrong_length_is_an_error():
    with pytest.raises(ValueError):
        table(["a", "b"], [[1, 2, 3]])
