"""The most words argv_text can hold: a program with a one-letter name and 63
one-letter arguments fills its 127 bytes, so build_stack's argv[] takes its
full PROC_ARGS_MAX / 2 + 1 entries (64 pointers and the NULL).  The stack
page and the program's own argc must show all of them."""

import struct

import pytest

from harness.pytest_plugin import machine_config
from harness.targets.mmverify.processes import Userland

TOP = 0xC0000000  # aslr=off: the stack top
WORDS = 63


@pytest.fixture
def one_letter_hello(request, firmware, machine_pool, tmp_path):
    """A machine whose only module is hello, named "h"."""
    if request.config.getoption("--boot") == "iso":
        pytest.skip("a GRUB image names its modules after the programs")
    path = tmp_path / "h.elf"
    path.write_bytes(firmware.user_program("hello").read_bytes())
    m = machine_pool.boot_to_ready(machine_config(request, firmware, modules=[str(path)],
                                                  cmdline="aslr=off"))
    yield m
    machine_pool.close_machine(m)


def test_sixty_four_words_all_reach_argv(one_letter_hello, firmware):
    machine = one_letter_hello
    userland = Userland(machine, firmware.user_dir)
    args = " ".join(["1"] * WORDS)
    text = ("h " + args).encode()
    assert len(text) == userland.spawn_limits.argv - 1, "argv_text full"
    pid = userland.spawn("h", args)
    strings = TOP - (len(text) + 1 + 3) // 4 * 4
    vector = [strings + i for i in range(0, len(text), 2)] + [0]
    assert len(vector) == 128 // 2 + 1
    argv_at = strings - 4 * len(vector)
    esp = argv_at - 8
    want = struct.pack(f"<II{len(vector)}I", WORDS + 1, argv_at, *vector) + \
        text.replace(b" ", b"\0").ljust(TOP - strings, b"\0")
    assert userland.read(pid, esp, TOP - esp) == want
    result = userland.run()[pid]
    assert (result.killed, result.status) == (False, 1)
    assert [r["argc"] for r in userland.claims("USER", pid=pid)] == [str(WORDS + 1)]
