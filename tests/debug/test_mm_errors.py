"""Bad arguments give one clear message (never a Python traceback) and GDB
goes on; the script loads in a GDB with no target and refuses to show the
ELF file's initial values as if they were the machine's."""

import subprocess

import pytest

from harness import timeouts

from .gdbrun import MM_SCRIPT, PYTHON_ERRORS

BAD = {
    "mm bogus": ["mm: unknown subcommand 'bogus'", "mm map [CR3|PID]"],
    "mm vtop": ["mm vtop: an address is needed", "usage: mm vtop ADDR [CR3|PID]"],
    "mm vtop zzz": ["mm vtop: cannot parse address 'zzz'", "No symbol \"zzz\"", "usage:"],
    "mm vtop 0x1000 0x1234": ["mm vtop: 0x1234 is neither the pid of a live process",
                              "4 KiB aligned"],
    "mm map 7": ["mm map: 7 is neither the pid of a live process (live pids: none)",
                 "usage: mm map [CR3|PID]"],
    "mm map 0x40000000": ["mm map: 0x40000000: no live process has this pid",
                          "is beyond RAM"],
    "mm map 1 2": ["mm map: too many arguments", "usage: mm map [CR3|PID]"],
    "mm heap extra": ["mm heap: unexpected argument 'extra'", "usage: mm heap [all]"],
    "mm pmm 3": ["mm pmm: unexpected argument '3'", "usage: mm pmm [all]"],
    "mm procs x": ["mm procs: mm procs takes no arguments", "usage: mm procs"],
    "mm faults x": ["mm faults: mm faults takes no arguments"],
    "mm pt 1 2 3": ["mm pt: too many arguments",
                    "usage: mm pt [CR3|PID] [START-END|START+LEN|ADDR]"],
    "mm pt 0xc0001000-0xc0000000": ["mm pt: '0xc0001000-0xc0000000' is empty"],
    "mm pt 0xffff0000+0x20000": ["mm pt: '0xffff0000+0x20000' ends at 0x100010000, "
                                 "beyond 4 GiB"],
    "mm pt $cr3 zzz": ["mm pt: cannot parse address 'zzz'"],
    "mm set bogus 1": ["mm set: unknown setting 'bogus' (settings: kernel-base)"],
    "mm set kernel-base": ["mm set: kernel-base needs one value"],
    "mm set kernel-base 0xc0001000": ["mm set: kernel base 0xc0001000 is not 4 MiB aligned"],
    "mm show x": ["mm show: mm show takes no arguments"],
}


@pytest.mark.qemu
def test_bad_arguments_give_a_message_and_gdb_goes_on(run_gdb):
    t = run_gdb([*BAD, "echo alive\\n", "mm map"], modules=())
    for command, expected in BAD.items():
        for text in expected:
            assert text in t[command], f"{command}: {text!r} not in:\n{t[command]}"
    assert "alive" in t["echo alive\\n"]
    assert t.regions(t["mm map"]), "the commands still work after the errors"


@pytest.mark.qemu
def test_at_reset_the_commands_say_paging_is_off(run_gdb):
    t = run_gdb(["mm map", "mm vtop 0xc0100000", "mm map 0", "mm heap", "echo alive\\n"],
                boot=False)
    for command in ("mm map", "mm vtop 0xc0100000"):
        assert "mm: paging is off (CR0.PG is 0)" in t[command], t[command]
    for command in ("mm map 0", "mm heap"):
        assert "Cannot access memory" in t[command] and "paging is off" in t[command]
    assert "alive" in t["echo alive\\n"]


def gdb_batch(firmware, request, *commands: str) -> str:
    argv = [request.config.getoption("--gdb"), "--nx", "-batch"]
    for c in commands:
        argv += ["-ex", c]
    proc = subprocess.run([*argv, str(firmware.kernel)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                          timeout=timeouts.scaled(20))
    for sign in PYTHON_ERRORS:
        assert sign not in proc.stdout, proc.stdout
    return proc.stdout


def test_without_a_target_the_commands_refuse(firmware, request):
    out = gdb_batch(firmware, request, f"source {MM_SCRIPT}", "mm map", "mm pmm", "mm heap",
                    "mm pt", "mm show", "echo alive\\n")
    assert out.count("mm: no live target; attach first") == 4, out
    assert "kernel-base  0xc0000000  (the firmware's harness_const_KERNEL_BASE)" in out, out
    assert "alive" in out


def test_the_script_reloads_and_imports_only_pure_modules(firmware, request):
    heavy = ("pygdbmi", "pexpect", "elftools", "qemu", "filelock", "harness.machine.machine",
             "harness.transport.gdbmi", "harness.targets.mmverify.kernel")
    out = gdb_batch(firmware, request, f"source {MM_SCRIPT}", f"source {MM_SCRIPT}",
                    "python import sys; print('loaded:', sorted(m for m in sys.modules "
                    f"if m.split('.')[0] in {heavy!r} or m in {heavy!r}))",
                    "help mm vtop")
    assert "loaded: []" in out, out
    assert "mm vtop ADDR [CR3|PID]" in out
