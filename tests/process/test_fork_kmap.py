"""Copy-on-write copies of frames the direct map does not reach.  On a 1 GiB
machine user frames come from above the direct map's end (768 MiB) first, so
each copy reaches both frames through kmap windows, of which there are four:
every copy must give its windows back, or a later one finds none.
forker 2 3 is 13 processes and dozens of copies."""

import pytest

DIRECT_MAP_LIMIT = 0x30000000
KMAP_SLOTS = 4
DATA = 0x2000  # forker's .data page: written by every process after fork

pytestmark = pytest.mark.machine(memory="1G", modules=["user/forker"], cmdline="aslr=off")


def test_every_copy_gives_its_kmap_windows_back(machine, userland, kernel):
    pid = userland.spawn("forker", "2 3")
    assert userland.address_space(pid).translate(DATA).pa >= DIRECT_MAP_LIMIT, \
        "the frames to copy lie beyond the direct map"
    results = userland.run(timeout=120)
    assert len(results) == 13
    assert all((r.killed, r.status) == (False, 0) for r in results.values()), results
    copies = [f for f in kernel.fault_log() if f.reason == "cow"]
    assert len(copies) > KMAP_SLOTS, "more copies than windows"
    assert {(f.kind, f.action) for f in copies} == {("protection", "resolved")}
    busy = machine.read(machine.symbol("kmap_busy"), KMAP_SLOTS)
    assert busy == bytes(KMAP_SLOTS), "every window given back"
