"""The first stack page of a new process, byte for byte (crt0.S's contract):
ESP at argc, then the argv pointer, argv[] ending in NULL, and the argument
strings split in place, NUL-padded to a word, ending at the stack top."""

import struct

import pytest

pytestmark = pytest.mark.machine(modules=["user/*"], cmdline="aslr=off")

TOP = 0xC0000000  # aslr=off: the stack top


@pytest.mark.parametrize(("args", "argv"), [
    ("a bc", [b"hello", b"a", b"bc"]),
    ("", [b"hello"]),
    ("  x   y ", [b"hello", b"x", b"y"]),
], ids=["two", "none", "extra-spaces"])
def test_argc_argv_and_strings(machine, userland, kernel, args, argv):
    pid = userland.spawn("hello", args)
    text = b"hello " + args.encode()  # proc_spawn's "name args"
    strings = TOP - (len(text) + 1 + 3) // 4 * 4
    split = text.replace(b" ", b"\0").ljust(TOP - strings, b"\0")
    starts = [i for i in range(len(text)) if text[i] != 32 and (i == 0 or text[i - 1] == 32)]
    vector = [strings + i for i in starts] + [0]
    argv_at = strings - 4 * len(vector)
    esp = argv_at - 8
    want = struct.pack(f"<II{len(vector)}I", len(argv), argv_at, *vector) + split
    assert [split[a - strings:].split(b"\0", 1)[0] for a in vector[:-1]] == argv, "the model"
    assert userland.read(pid, esp, TOP - esp) == want
    # The kernel's first iret goes there: the user ESP in the trap frame it built.
    assert machine.read_u32(userland.kernel_stack_of(pid) - 8) == esp
    assert userland.run()[pid].status == 0
