"""The GDB/MI client's protocol handling, against a fake gdb (no QEMU)."""

import os
import sys
import time
from pathlib import Path

import pytest

from harness.decode.mi_text import mi_quote, parse_gdb_int, parse_simple_result
from harness.errors import GdbError, GuestTimeout, TargetStateError
from harness.transport.gdbmi import MiClient

FAKE_GDB = Path(__file__).parent / "fakes" / "fake_gdb.py"


@pytest.fixture
def mi(tmp_path):
    client = MiClient([sys.executable, str(FAKE_GDB)], log_dir=tmp_path)
    client.start()
    yield client
    client.close()


def test_result_is_matched_by_token(mi):
    assert mi.command("-anything").payload == {"value": "42"}


def test_a_stale_result_does_not_answer_a_later_command(mi):
    mi.command("-first")
    assert mi.command("-late").payload["value"] == "fresh"


def test_console_output_belongs_to_its_command(mi):
    assert mi.command("-echo hello").console == "hello\n"
    assert mi.command("-anything").console == ""


def test_error_record_raises_with_message_and_transcript(mi):
    with pytest.raises(GdbError) as info:
        mi.command("-fail")
    assert "boom" in str(info.value)
    assert "> " in info.value.mi_tail and "-fail" in info.value.mi_tail


def test_no_answer_raises_within_the_timeout(mi):
    start = time.monotonic()
    with pytest.raises(GdbError, match="no answer"):
        mi.command("-hang", timeout=0.2)
    assert time.monotonic() - start < 2


def test_a_command_without_answer_is_given_up_before_the_next_one(mi, tmp_path):
    with pytest.raises(GdbError, match="gave it up when interrupted"):
        mi.command("-hang", timeout=0.2)
    assert mi.command("-echo next").console == "next\n"
    assert mi.alive()
    mi.close()
    log = (tmp_path / "gdb-mi.log").read_text().splitlines()
    hang, quit_, following = (log.index("> 1-hang"), log.index('1^error,msg="Quit"'),
                              next(i for i, line in enumerate(log) if "-echo next" in line))
    assert hang < quit_ < following, "the lost command's answer was drained first"


def test_a_command_gdb_will_not_give_up_breaks_the_client(mi, monkeypatch):
    from harness import timeouts

    monkeypatch.setattr(timeouts, "COMMAND", 0.2)
    with pytest.raises(GdbError, match="out of step"):
        mi.command("-deaf", timeout=0.2)
    assert not mi.alive()
    with pytest.raises(GdbError, match=r"cannot send '-anything'.*out of step"):
        mi.command("-anything")


def test_gdb_exiting_raises(mi):
    with pytest.raises(GdbError, match="exited"):
        mi.command("-die")


def test_stop_events_are_queued_and_track_running_state(mi):
    mi.command("-exec-continue")
    assert mi.running
    with pytest.raises(TargetStateError, match="running"):
        mi.require_stopped("read memory")
    stop = mi.wait_stopped(2)
    assert stop.reason == "breakpoint-hit" and stop.addr == 0x1000 and stop.func == "f"
    assert not mi.running


def test_a_stop_from_before_the_resume_is_not_the_next_stop(mi):
    """A *stopped that GDB printed before its ^running (the previous stop,
    reported late) is history once the target runs again."""
    mi.command("-late-stop")
    assert mi.wait_stopped(2).addr == 0x1000
    with pytest.raises(GuestTimeout):
        mi.wait_stopped(0.1)


def test_waiting_for_a_stop_that_never_comes_times_out(mi):
    with pytest.raises(GuestTimeout):
        mi.wait_stopped(0.1)


def test_watched_descriptors_are_serviced_while_waiting(mi):
    r, w = os.pipe()
    seen = []
    mi.watch(r, lambda: seen.append(os.read(r, 100)))
    os.write(w, b"serial bytes")
    mi.command("-anything")
    assert seen == [b"serial bytes"]
    mi.unwatch(r)
    os.close(r)
    os.close(w)


def test_errors_can_be_turned_into_target_errors(mi):
    class TargetGone(Exception):
        pass

    def check(message):
        raise TargetGone(message)

    mi.check_target = check
    with pytest.raises(TargetGone, match="boom"):
        mi.command("-fail")


def test_transcript_is_written_to_the_run_directory(mi, tmp_path):
    mi.command("-echo logged")
    mi.close()
    log = (tmp_path / "gdb-mi.log").read_text()
    assert "-echo logged" in log and '~"logged\\n"' in log


def test_mi_quote_escapes_quotes_and_backslashes():
    assert mi_quote('a "b" \\c') == '"a \\"b\\" \\\\c"'


@pytest.mark.parametrize("text,value", [
    ("5", 5), ("-3", -3), ("0", 0), ("0x10", 16), ("0xAbC", 0xABC), ("  42 \n", 42),
    ("0xffffffff", 0xFFFFFFFF), ("(void *) 0xc0100000", 0xC0100000),
    ("(struct page *) 0x0", 0), ("0xc0101234 <kmain+4>", 0xC0101234), ("65 'A'", 65),
    ("true", 1), ("false", 0), (" true ", 1),
])
def test_parse_gdb_int(text, value):
    assert parse_gdb_int(text) == value


@pytest.mark.parametrize("text", ["", "abc", "TRUE", "False", "<optimized out>", "{a = 1}"])
def test_parse_gdb_int_refuses_what_is_no_number(text):
    with pytest.raises(ValueError) as e:
        parse_gdb_int(text)
    assert str(e.value) == f"not an integer value: {text.strip()!r}"


def test_simple_results_exactly():
    assert parse_simple_result('^done,value="7"') == {
        "type": "result", "message": "done", "payload": {"value": "7"}, "token": None}
    assert parse_simple_result("12^running") == {
        "type": "result", "message": "running", "payload": None, "token": 12}
    chunk = {"begin": "0x10", "offset": "0x0", "end": "0x11", "contents": "ab"}
    line = '^done,memory=[{begin="0x10",offset="0x0",end="0x11",contents="ab"}]'
    assert parse_simple_result(line) == {
        "type": "result", "message": "done", "payload": {"memory": [chunk]}, "token": None}
    assert parse_simple_result("3" + line)["token"] == 3


class TestFastResultParser:
    """The hot-path parser must agree with pygdbmi wherever it answers."""

    @staticmethod
    def check(line):
        from pygdbmi.gdbmiparser import parse_response

        from harness.decode.mi_text import parse_simple_result

        fast = parse_simple_result(line)
        assert fast is not None, f"fast path should handle {line!r}"
        assert fast == parse_response(line)

    def test_done_running_and_values(self):
        for line in ('12^done', '^done', '7^running', '3^done,value="42"',
                     '9^done,value="(void *) 0xc0100000"', '1^done,value=""'):
            self.check(line)

    def test_memory_with_one_and_several_chunks(self):
        self.check('5^done,memory=[{begin="0xc0100000",offset="0x00000000",'
                   'end="0xc0100004",contents="02b0ad1b"}]')
        self.check('6^done,memory=[{begin="0x1000",offset="0x0",end="0x1002",contents="abcd"},'
                   '{begin="0x1002",offset="0x2",end="0x1004",contents="ef01"}]')

    def test_other_shapes_fall_back(self):
        from harness.decode.mi_text import parse_simple_result

        for line in ('1^error,msg="boom"', '2^done,value="a \\"quoted\\" b"',
                     '3^done,bkpt={number="1"}', '*stopped,reason="x"', '~"text"'):
            assert parse_simple_result(line) is None

    def test_random_values_agree(self):
        from hypothesis import given
        from hypothesis import strategies as st

        text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126,
                                              blacklist_characters='"\\'), max_size=40)

        @given(st.integers(0, 10**6), text)
        def agree(token, value):
            self.check(f'{token}^done,value="{value}"')

        agree()

    def test_random_memory_agrees(self):
        from hypothesis import given
        from hypothesis import strategies as st

        @given(st.integers(0, 2**32 - 64), st.binary(min_size=0, max_size=64))
        def agree(addr, data):
            self.check(f'4^done,memory=[{{begin="{addr:#x}",offset="0x0",'
                       f'end="{addr + len(data):#x}",contents="{data.hex()}"}}]')

        agree()
