"""Parsing of the firmware's structured serial records."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.decode.records import Record, parse_record, parse_records, quote, unescape


def test_tag_and_fields():
    rec = parse_record("PF vec=14 addr=0xdead0000 err=0x2 mode=kernel\r\n")
    assert rec.tag == "PF"
    assert rec.int("addr") == 0xDEAD0000 and rec.int("vec") == 14
    assert rec["mode"] == "kernel"


def test_quoted_values_keep_spaces_and_escaped_quotes():
    rec = parse_record('PANIC where=pmm_init msg="need 8 MiB, found \\"4\\" MiB"')
    assert rec["where"] == "pmm_init"
    assert rec["msg"] == 'need 8 MiB, found "4" MiB'


def test_free_text_is_not_a_record():
    assert parse_record("hello world") is None
    assert parse_record("lowercase=1") is None
    assert parse_record("") is None


def test_fields_stop_at_free_text():
    rec = parse_record("BOOT version=1 some words after=2")
    assert rec.fields == {"version": "1"}


def test_empty_value():
    assert parse_record("CMDLINE raw=").fields == {"raw": ""}


def test_records_filters_by_tag_and_keeps_order():
    text = "BOOT a=1\nnoise\nPF addr=0x1\nPF addr=0x2\nREADY\n"
    assert [r.tag for r in parse_records(text)] == ["BOOT", "PF", "PF", "READY"]
    assert [r["addr"] for r in parse_records(text, "PF")] == ["0x1", "0x2"]


def test_quote_escapes_what_could_end_or_fake_a_record():
    assert quote(b'a"b') == '"a\\"b"'
    assert quote(b"a\\b") == '"a\\\\b"'
    assert quote(b"x\nPANIC where=cmdline\r") == '"x\\x0aPANIC where=cmdline\\x0d"'
    assert quote(b"\x00\x7f\xff ~") == '"\\x00\\x7f\\xff ~"'


@given(st.binary(max_size=300), st.binary(max_size=30))
def test_any_bytes_round_trip_through_a_quoted_value(data, other):
    line = f"OUT pid=3 data={quote(data)} other={quote(other)} fd=1"
    assert "\n" not in line and "\r" not in line
    records = parse_records(line + "\n" + line + "\n")
    assert len(records) == 2, "a value never ends its line"
    for rec in records:
        assert rec.bytes("data") == data and rec.bytes("other") == other
        assert (rec.int("pid"), rec.int("fd")) == (3, 1)


def test_line_keeps_the_text_without_its_line_end():
    assert parse_record("PF a=1\r\n").line == "PF a=1"
    assert parse_record("PF a=1 \n").line == "PF a=1 "   # only \r and \n are stripped
    assert parse_record("PF a=MAX\r\n")["a"] == "MAX"
    assert parse_record("PF a=1") == Record("PF", {"a": "1"}, "PF a=1")


def test_get_with_and_without_default():
    rec = parse_record("BOOT version=1")
    assert rec.get("version") == "1" and rec.get("version", "x") == "1"
    assert rec.get("missing") is None and rec.get("missing", "x") == "x"


def test_bytes_of_a_quoted_value_with_high_bytes():
    rec = parse_record('OUT data="\\xe9\\x00a"')
    assert rec.bytes("data") == b"\xe9\x00a" and rec["data"] == "\xe9\x00a"


def test_quote_of_a_str_is_its_latin1_bytes():
    assert quote("é\n\"") == '"\\xe9\\x0a\\""'
    assert quote("") == '""'


@pytest.mark.parametrize("byte", range(256))
def test_quote_escapes_exactly_control_quote_backslash_and_high_bytes(byte):
    data = bytes([byte])
    if byte == 0x22:
        expected = '"\\""'
    elif byte == 0x5C:
        expected = '"\\\\"'
    elif byte < 0x20 or byte > 0x7E:
        expected = f'"\\x{byte:02x}"'
    else:
        expected = f'"{chr(byte)}"'
    assert quote(data) == expected
    assert unescape(expected[1:-1]) == chr(byte)


def test_unescape_takes_hex_in_either_case_and_any_escaped_char():
    assert unescape("\\x0A\\x0a\\q\\\\\\\"") == '\n\nq\\"'
