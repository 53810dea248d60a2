"""Userland.spawn holds names and arguments to the kernel's own buffers,
read from its debug info, and refuses what would not fit before writing
anything to the guest."""

import pytest

from harness import ArgumentError

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

# Kernel memory from agent_scratch on: the buffer and the .bss after it,
# where an unchecked 9000-byte argument string used to land.
WATCHED = 16 << 10


def test_the_limits_are_the_kernels_buffers(userland, kernel):
    limits = userland.spawn_limits
    assert (limits.name, limits.argv, limits.scratch) == (32, 128, 4096)
    assert limits.name == kernel.layout("module").fields["name"].size


@pytest.mark.parametrize(("name", "args", "message"), [
    ("hello", "x" * 9000, r"9000 bytes.*argv_text, 128 bytes.*room for 121"),
    ("hello", "7" * 122, r"122 bytes.*room for 121"),
    ("h" * 64, "", r"is 64 bytes; module names are at most 31"),
    ("h" * 32, "", r"is 32 bytes; module names are at most 31"),
    ("hello", "1\0 2", r"NUL byte \(at 1\)"),
    ("", "", r"not empty"),
    ("hello 1", "", r"without spaces"),
], ids=["args-9000", "args-one-too-many", "name-64", "name-32", "args-nul", "name-empty",
        "name-space"])
def test_what_the_kernel_cannot_take_is_refused_before_anything_is_written(
        machine, userland, name, args, message):
    scratch = machine.symbol("agent_scratch")
    before = machine.read(scratch, WATCHED)
    mark = machine.mark()
    with pytest.raises(ArgumentError, match=message):
        userland.spawn(name, args)
    assert machine.read(scratch, WATCHED) == before
    assert machine.records("SPAWN", since=mark) == []
    assert userland.processes() == []


def test_the_longest_arguments_the_kernel_takes_reach_the_program_whole(machine, userland):
    args = " ".join(["7"] * 61)  # 121 bytes: "hello " and these fill argv_text
    assert len("hello " + args) == userland.spawn_limits.argv - 1
    pid = userland.spawn("hello", args)
    result = userland.run()[pid]
    assert (result.status, result.killed) == (7, False)
    said = [r["argc"] for r in userland.claims("USER", pid=pid)]
    assert said == ["62"], "argv[0] and all 61 arguments arrived"
