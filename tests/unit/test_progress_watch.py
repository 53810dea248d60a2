"""The progress watch's pure parts: when looks make a hang, which bytes of
the kernel's data count, how a hang reads (harness/machine/progress.py)."""

from harness.errors import GuestTimeout, HungGuest
from harness.machine.progress import (
    Look,
    Segment,
    StallClock,
    describe_frame,
    pieces_outside,
    stack_hole,
)


def looks(clock, *seen):
    """Feed (time, kernel_mode, state) looks; what each returned."""
    return [clock.add(Look(t, k, s)) for t, k, s in seen]


def test_the_same_kernel_state_for_the_stall_is_a_hang():
    assert looks(StallClock(3.0), (0, True, b"a"), (1, True, b"a"), (2, True, b"a"),
                 (3, True, b"a")) == [None, None, None, 3]


def test_a_change_of_state_starts_the_stall_again():
    assert looks(StallClock(3.0), (0, True, b"a"), (1, True, b"a"), (2, True, b"b"),
                 (4, True, b"b"), (5, True, b"b")) == [None, None, None, None, 3]


def test_a_look_in_user_mode_is_progress():
    assert looks(StallClock(3.0), (0, True, b"a"), (2, False, b""), (3, True, b"a"),
                 (5, True, b"a"), (6, True, b"a")) == [None, None, None, None, 3]


def test_user_mode_for_ever_is_never_a_hang():
    assert looks(StallClock(1.0), *[(t, False, b"") for t in range(10)]) == [None] * 10


def test_the_stack_hole_is_the_page_of_esp_and_one_either_side():
    assert stack_hole(0xC0105FFC) == (0xC0104000, 0xC0107000)


def test_pieces_leave_out_the_hole_and_keep_the_rest_physical():
    seg = Segment(vaddr=0xC0100000, paddr=0x100000, size=0x10000)
    assert pieces_outside(seg, (0xC0104000, 0xC0107000)) == [(0x100000, 0x4000),
                                                           (0x107000, 0x9000)]
    assert pieces_outside(seg, (0xC0000000, 0xC0102000)) == [(0x102000, 0xE000)]
    assert pieces_outside(seg, (0xC0200000, 0xC0203000)) == [(0x100000, 0x10000)]
    assert pieces_outside(seg, (0xC00FF000, 0xC0200000)) == []


def test_pieces_leave_out_every_hole_overlapping_or_not():
    seg = Segment(vaddr=0xC0100000, paddr=0x100000, size=0x10000)
    # The stack's hole and another CPU's data, apart, then overlapping.
    assert pieces_outside(seg, (0xC0104000, 0xC0107000), (0xC0108000, 0xC0108100)) == [
        (0x100000, 0x4000), (0x107000, 0x1000), (0x108100, 0x7F00)]
    assert pieces_outside(seg, (0xC0104000, 0xC0107000), (0xC0106000, 0xC0109000)) == [
        (0x100000, 0x4000), (0x109000, 0x7000)]
    assert pieces_outside(seg) == [(0x100000, 0x10000)]


def test_a_frame_reads_as_level_function_place_address():
    frame = {"level": "1", "addr": "0xc01037fc", "func": "syscall_dispatch",
             "file": "/src/syscall.c", "line": "52"}
    assert describe_frame(frame) == "#1 syscall_dispatch (/src/syscall.c:52) 0xc01037fc"
    assert describe_frame({"level": "4", "addr": "0xff002fb4"}) == "#4 ?? 0xff002fb4"


def test_a_hung_guest_is_a_timeout_that_shows_its_backtrace_before_the_tails():
    hung = HungGuest("stuck at 0x1", eip=1, where="f", backtrace=["#0 f", "#1 g"],
                     stalled=3.0, serial_tail="console line")
    assert isinstance(hung, GuestTimeout)
    assert str(hung) == ("stuck at 0x1\nbacktrace:\n  #0 f\n  #1 g\n"
                         "--- serial (tail) ---\nconsole line")
