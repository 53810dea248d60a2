"""COM2, the record channel, is found by the UART scratch-register test; a
machine without it (a PC with one serial port) boots and runs programs just
the same, its records on the console only."""

import pytest

from harness.errors import ConfigError


def test_the_kernel_finds_com2_when_it_is_there(machine):
    assert machine.call("serial_record_channel") == 1
    assert [r.tag for r in machine.records()][:2] == ["BOOT", "CMDLINE"]


def test_without_com2_only_the_record_channel_is_lost(boot):
    m = boot(record_channel=False, modules=["user/hello"], cmdline="aslr=off")
    m.run_to("kernel_ready")
    assert m.call("serial_record_channel") == 0
    scratch = m.symbol("agent_scratch")
    m.write(scratch, b"hello\0")
    assert m.call("proc_spawn", scratch, 0, 0) == 1
    assert m.call("sched_run") == 1
    console = m.console.text()
    assert console.startswith("BOOT kernel=mmverify")
    assert "\nREADY\n" in console
    assert 'EXIT pid=1 name="hello" status=0 killed=0 reason=exit\n' in console
    assert "USER prog=hello pid=1 argc=1\n" in console
    with pytest.raises(ConfigError, match="no record channel"):
        m.records()
