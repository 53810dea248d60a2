"""A snapshot restore of the booted Linux machine: everything a test changed
is gone, the shell answers, and the pool hands the same machine back.  And
what the Linux profile leaves out says so."""

from __future__ import annotations

import time

import pytest

from harness.errors import ConfigError

pytestmark = pytest.mark.machine(target="linux")


def test_a_restore_undoes_what_a_test_did_and_the_shell_answers(machine, machine_pool, shell):
    at_ready = machine.registers("eip", "esp", "cr3")
    ram_page = machine.read_phys(0x1000000, 4096)  # the kernel's first text page
    assert shell.run("echo dirty > /root/mark && cat /root/mark") == "dirty\n"
    machine.interrupt()
    machine.write_phys(0x1000000, b"\xcc" * 16)  # even the kernel's text

    start = time.perf_counter()
    again = machine_pool.acquire(machine.cfg)
    restore_ms = (time.perf_counter() - start) * 1000
    assert again is machine, "restored, not booted again"
    assert machine.registers("eip", "esp", "cr3") == at_ready
    assert machine.read_phys(0x1000000, 4096) == ram_page
    assert shell.run("cat /root/mark 2>&1; echo rc=$?") == (
        "cat: can't open '/root/mark': No such file or directory\nrc=1\n")
    assert restore_ms < 2000, f"a restore took {restore_ms:.0f} ms"  # see bench: restore


def test_what_the_linux_profile_leaves_out_is_an_error_naming_the_field(machine):
    with pytest.raises(ConfigError, match=r"machine.call\('printk'\) needs "
                                          r"TargetProfile.call_method, which target 'linux' "
                                          r"does not set"):
        machine.call("printk", 0)
    with pytest.raises(ConfigError, match="has no record channel"):
        machine.records()
