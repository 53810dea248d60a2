"""The CMOS clock as the kernel reads it (dev/rtc.c), judged against the
host's: QEMU's RTC runs on the host's UTC time of day (-rtc base=utc, its
default), with or without -icount."""

import datetime

import pytest

DAY = 86400
SLACK = 2  # seconds: the call, and a second boundary either side


def host_seconds():
    now = datetime.datetime.now(datetime.UTC)
    return now.hour * 3600 + now.minute * 60 + now.second


def kernel_seconds(machine):
    """rtc_seconds(), away from midnight (so that nothing below wraps)."""
    seconds = machine.call_value("rtc_seconds")
    if not 120 <= seconds <= DAY - 120:
        pytest.skip("too close to midnight UTC for offsets that do not wrap")
    return seconds


@pytest.mark.parametrize("icount", [False, True])
def test_the_kernel_reads_the_hosts_time_of_day(boot, icount):
    machine = boot(icount=icount)
    machine.run_to("kernel_ready")
    before, seconds, after = host_seconds(), kernel_seconds(machine), host_seconds()
    assert before - SLACK <= seconds <= after + SLACK


def test_elapsed_counts_seconds_since_a_reading(machine):
    now = kernel_seconds(machine)
    assert machine.call_value("rtc_elapsed", now - 10, 5) == 1  # a bool: AL only
    assert machine.call_value("rtc_elapsed", now - 10, 3600) == 0
    assert machine.call_value("rtc_elapsed", now, 3600) == 0


def test_a_clock_set_back_has_not_passed_any_time(machine):
    """A reading half a minute after now (the clock stepped back since, or
    an earlier read was torn) is no wait ended: before, any `now < since`
    counted as midnight's wrap, a day gone, and the CPU start wait of
    kernel/smp.c gave up at once."""
    now = kernel_seconds(machine)
    assert machine.call_value("rtc_elapsed", now + 30, 1) == 0
    assert machine.call_value("rtc_elapsed", now + 30, 0) == 1


# Five seconds after midnight when the machine starts (-rtc base= sets the
# RTC's date and time; it runs on with the host's clock from there).
JUST_AFTER_MIDNIGHT = ("-rtc", "base=2026-12-01T00:00:05")


def test_midnight_wraps_to_the_next_day(boot):
    """A reading from just before midnight, now being just after it: the
    clock went forward through midnight (since - now is more than half a
    day).  The machine's clock starts after midnight, so that the case is
    there at any hour of the host's day (with the host's clock, at 23:00
    UTC since - now was an hour: a clock set back, rightly no time passed)."""
    machine = boot(extra_args=JUST_AFTER_MIDNIGHT)
    machine.run_to("kernel_ready")
    now = machine.call_value("rtc_seconds")
    assert 5 <= now < 120, "the clock as -rtc base= set it, plus the boot"
    since = DAY - 5  # five seconds before midnight
    assert machine.call_value("rtc_elapsed", since, now + 5) == 1
    assert machine.call_value("rtc_elapsed", since, now + 5 + SLACK + 60) == 0
