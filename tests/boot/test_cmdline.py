"""The kernel command line: every option parsed, every bad value reported.

Each option's effect is read from the kernel's own variables through GDB, not
from what the kernel prints about itself."""

import pytest

from harness.machine.qemu import EXIT_POWEROFF

NUMBER = "number"
ON_OFF = "on|off"
RUN_LIST = "module[,module...]"

# (option, bad value, what the CMDLINE record says it expected)
BAD_VALUES = [
    ("aslr_seed", "abc", NUMBER),
    ("aslr_seed", "-1", NUMBER),
    ("aslr_seed", "", NUMBER),
    ("aslr_seed", "4294967296", NUMBER),  # one past 32 bits
    ("aslr_seed", "0x", NUMBER),
    ("aslr", "maybe", ON_OFF),
    ("preempt", "2", ON_OFF),
    ("fault_log", "sometimes", "errors|all"),
    ("heap_debug", "", "off|full"),
    ("shell", "later", ON_OFF),
    ("poweroff", "now", ON_OFF),
    ("run", "", RUN_LIST),
    ("run", ",hello", RUN_LIST),
    ("run", "hello,,hello", RUN_LIST),
    ("spin_limit", "0", "pauses>0"),  # a number, but every contended lock would panic
]

# The kernel's variables each option sets, as they are with no options at all.
DEFAULT_EFFECTS = {
    "'aslr.c'::source": ("RDRAND", "TSC_PIT"),
    "'timer.c'::preempt": ("false",),
    "'fault.c'::log_resolved": ("false",),
    "heap_debug_full": ("false",),
    "spin_limit": (str(1 << 24),),
}


def bad_records(machine):
    return [r.fields for r in machine.records("CMDLINE") if "bad" in r.fields]


def assert_defaults(machine):
    for variable, allowed in DEFAULT_EFFECTS.items():
        assert machine.evaluate(variable) in allowed, variable


@pytest.mark.parametrize(("option", "value", "expected"), [
    pytest.param(option, value, expected, id=f"{option}={value!r}",
                 marks=pytest.mark.machine(cmdline=f"{option}={value}", modules=["user/hello"]))
    for option, value, expected in BAD_VALUES])
def test_each_bad_value_is_one_record_and_the_default(machine, option, value, expected):
    assert bad_records(machine) == [{"bad": option, "value": value, "expected": expected}]
    assert [r for r in machine.records("CMDLINE") if "unknown" in r.fields] == []
    assert_defaults(machine)
    assert machine.records("SPAWN") == [], "a refused run= list spawns nothing"
    assert machine.reg("eip") == machine.symbol("kernel_ready")


@pytest.mark.machine(cmdline="aslr_seed=7")
def test_a_good_seed_is_taken(machine):
    assert bad_records(machine) == []
    assert machine.evaluate("'aslr.c'::source") == "SEEDED"


@pytest.mark.machine(cmdline="preemt=on aslr=off flag2 fault_log=all")
def test_unknown_options_are_reported_by_name(machine):
    unknown = [r["unknown"] for r in machine.records("CMDLINE") if "unknown" in r.fields]
    assert unknown == ["preemt", "flag2"]
    assert machine.evaluate("'aslr.c'::source") == "FIXED"
    assert machine.evaluate("'fault.c'::log_resolved") == "true"


@pytest.mark.machine(cmdline="aslr=off aslr=on fault_log=all fault_log=errors")
def test_a_repeated_option_takes_the_last_value_and_is_not_unknown(machine):
    records = [r for r in machine.records("CMDLINE") if "raw" not in r.fields]
    assert records == []
    assert machine.evaluate("'aslr.c'::source") in ("RDRAND", "TSC_PIT")
    assert machine.evaluate("'fault.c'::log_resolved") == "false"


# 200 words and then one more option: 408 bytes (QEMU puts the kernel's path
# first; the kernel keeps 511).  Once 32 options were kept: the last must be seen.
MANY_OPTIONS = " ".join(["x"] * 200) + " aslr=off"


@pytest.mark.machine(cmdline=MANY_OPTIONS)
def test_the_longest_command_line_loses_no_option(machine):
    assert machine.evaluate("'aslr.c'::source") == "FIXED"
    assert [r["unknown"] for r in machine.records("CMDLINE") if "unknown" in r.fields] == \
        ["x"] * 200


@pytest.mark.machine(cmdline="alpha=1 beta=0x20 flag gamma=some-text")
def test_command_line_options_are_parsed(machine):
    scratch = machine.symbol("agent_scratch")

    def option(key: str, default: int) -> int:
        machine.write(scratch, key.encode() + b"\0")
        return machine.call("cmdline_uint", scratch, default)

    assert option("alpha", 7) == 1
    assert option("beta", 7) == 0x20
    assert option("missing", 7) == 7
    machine.write(scratch, b"flag\0")
    assert machine.call("cmdline_bool", scratch, 0) == 1
    raw = machine.records("CMDLINE")[0]["raw"]
    assert raw.endswith("alpha=1 beta=0x20 flag gamma=some-text")


@pytest.mark.cold_boot
@pytest.mark.machine(cmdline="poweroff")
def test_poweroff_option_exits_qemu_with_the_poweroff_status(machine):
    assert machine.wait_exit() == EXIT_POWEROFF
    assert machine.records("POWEROFF")
