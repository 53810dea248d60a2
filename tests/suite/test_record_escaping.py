"""Every string a record carries is escaped by the firmware (its %pq) and
decoded by harness.decode.records to the same bytes: no value can end its record or
forge another, whatever it holds (a command-line value, a name, output)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.decode.records import quote


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_any_bytes_round_trip_through_the_firmware(machine, data):
    scratch = machine.symbol("agent_scratch")
    machine.write(scratch, data + b"\0")
    mark = machine.mark()
    machine.call("agent_record_bytes", scratch, len(data))
    [rec] = machine.records(since=mark)
    assert rec.tag == "AGENT" and rec.int("len") == len(data)
    assert rec.bytes("bytes") == data
    assert rec.bytes("text") == data.split(b"\0")[0]
    assert rec.line == f"AGENT bytes={quote(data)} len={len(data)} text={quote(rec.bytes('text'))}"


@pytest.mark.machine(cmdline='heap_debug=a"b')
def test_a_quote_in_a_command_line_value_is_kept(machine, firmware):
    [bad] = [r for r in machine.records("CMDLINE") if r.get("bad")]
    assert bad.fields == {"bad": "heap_debug", "value": 'a"b', "expected": "off|full"}
    assert machine.records("CMDLINE")[0]["raw"] == f'{firmware.kernel} heap_debug=a"b'


FORGED = 'x\nPANIC where=cmdline msg="forged"'


@pytest.mark.machine(cmdline=f"heap_debug={FORGED}")
def test_a_newline_in_the_command_line_forges_no_record(machine, firmware):
    assert machine.records("PANIC") == []
    cmdline = machine.records("CMDLINE")
    assert [r.get("unknown") for r in cmdline if "unknown" in r.fields] == ["where", "msg"]
    assert len(cmdline) == 4, "raw, bad, and the two words after the newline as unknown"
    [bad] = [r for r in machine.records("CMDLINE") if r.get("bad")]
    assert (bad["bad"], bad["value"]) == ("heap_debug", FORGED.split(" ")[0])
    assert machine.records("CMDLINE")[0]["raw"] == f"{firmware.kernel} heap_debug={FORGED}"
