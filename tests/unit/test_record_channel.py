"""The harness's side of COM2: what it reads as records, and what it refuses."""

import socket

import pytest

from harness.transport.record_channel import RecordChannel


@pytest.fixture
def channel(tmp_path):
    guest, ours = socket.socketpair()
    ch = RecordChannel(ours, tmp_path / "records.log")
    yield guest, ch
    ch.close()
    guest.close()


def test_a_line_the_kernel_has_not_finished_is_not_a_record_yet(channel, tmp_path):
    guest, ch = channel
    guest.sendall(b"BOOT version=1\nEXIT pid=1 name=\"a")
    assert [r.tag for r in ch.records()] == ["BOOT"]
    mark = ch.mark()
    guest.sendall(b'\\x0a" status=0\n')
    [_, exit_record] = ch.records()
    assert exit_record.fields == {"pid": "1", "name": "a\n", "status": "0"}
    assert ch.records(since=mark) == [], "a mark in the middle of a line: its rest is no record"
    assert (tmp_path / "records.log").read_bytes().endswith(b'status=0\n')


def test_a_console_offset_is_refused_as_a_mark(channel):
    guest, ch = channel
    guest.sendall(b"BOOT version=1\n")
    with pytest.raises(TypeError, match=r"machine\.mark\(\)"):
        ch.records(since=3)
    assert len(ch.records(since=0)) == 1
