"""Every heap test ends with heap_check() finding the heap consistent: a
detected corruption is quarantined, never left to spread."""

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    m = item.funcargs.get("machine")
    if m is not None and m.alive and not m.gdb.running:
        mark = m.mark()
        assert m.call("heap_check") == 0, "final state: " + m.record_channel.text(mark)
    return result
