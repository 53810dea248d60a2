"""The compressed swap pool (mm/zswap.c) driven directly through its API,
judged from outside: every entry is read from guest RAM and its bytes decoded
on the host (harness/decode/lz.py), the statistics compared whole, write-backs
observed at a breakpoint on the write-back function with its arguments read
from the stack."""

from __future__ import annotations

import random
import re

import pytest

from harness import CallStopped
from harness.decode import lz
from tests.pages import text_page

PAGE = 4096
E2BIG, ENOENT, EEXIST, ENOSPC, EIO = 7, 2, 17, 28, 5
STATS = ("stored_pages", "same_filled", "pool_bytes", "max_bytes", "stores", "loads",
         "invalidates", "rejected", "writebacks", "writeback_errors")


def s32(v: int | None) -> int:
    assert v is not None
    return v - (1 << 32) if v >= 1 << 31 else v




class Pool:
    """The pool in one machine: its API through machine.call, its state through GDB."""

    def __init__(self, machine, max_bytes: int, writeback: str | None = None) -> None:
        self.m = machine
        self.page = machine.symbol("agent_scratch")
        self.out = machine.call_value("kmalloc", PAGE)
        self.data_offset = int(machine.evaluate("(unsigned)&((struct zswap_entry *)0)->data"))
        machine.call("zswap_init", max_bytes, machine.symbol(writeback) if writeback else 0)

    def store(self, slot: int, data: bytes) -> int:
        self.m.write(self.page, data)
        return s32(self.m.call("zswap_store", slot, self.page))

    def load(self, slot: int) -> tuple[int, bytes]:
        self.m.write(self.out, b"\x5a" * PAGE)
        return s32(self.m.call("zswap_load", slot, self.out)), self.m.read(self.out, PAGE)

    def stats(self) -> dict[str, int]:
        text = self.m.evaluate("zswap_stats")
        return {k: int(v) for k, v in re.findall(r"(\w+) = (\d+)", text)}

    def entry(self, slot: int) -> dict[str, int] | None:
        """The entry for slot found by walking its bucket in guest RAM."""
        e = self.m.read_u32(self.m.symbol("zswap_buckets") + 4 * (slot % 1024))
        while e:
            fields = dict(zip(("slot", "len", "value", "hash_next", "older", "newer"),
                              (self.m.read_u32(e + 4 * i) for i in range(6)), strict=True))
            if fields["slot"] == slot:
                return {"addr": e, **fields}
            e = fields["hash_next"]
        return None

    def entry_page(self, slot: int) -> bytes:
        e = self.entry(slot)
        assert e is not None and e["len"] > 0
        return lz.decompress(self.m.read(e["addr"] + self.data_offset, e["len"]))

    def age_order(self) -> list[int]:
        slots, e = [], self.m.read_u32(self.m.symbol("zswap_oldest"))
        while e:
            slots.append(self.m.read_u32(e))
            e = self.m.read_u32(e + 20)  # newer
        return slots


def expected_stats(**changes: int) -> dict[str, int]:
    return {k: changes.get(k, 0) for k in STATS}


def test_text_page_is_stored_compressed(machine):
    pool = Pool(machine, 65536)
    page = text_page(1)
    assert pool.store(7, page) == 0
    e = pool.entry(7)
    assert e is not None and 0 < e["len"] * 2 <= PAGE, "text compresses at least 2:1"
    assert pool.entry_page(7) == page, "the pool holds exactly the page (decoded on the host)"
    assert pool.age_order() == [7]
    assert pool.stats() == expected_stats(stored_pages=1, pool_bytes=e["len"], max_bytes=65536,
                                          stores=1)


def test_same_filled_page_is_one_value(machine):
    pool = Pool(machine, 65536)
    assert pool.store(3, b"\xef\xbe\xad\xde" * (PAGE // 4)) == 0
    e = pool.entry(3)
    assert e is not None and (e["len"], e["value"]) == (0, 0xDEADBEEF)
    assert pool.age_order() == [], "same-filled entries are never written back"
    assert pool.stats() == expected_stats(stored_pages=1, same_filled=1, max_bytes=65536, stores=1)
    assert pool.load(3) == (0, b"\xef\xbe\xad\xde" * (PAGE // 4))


def test_almost_same_filled_page_is_compressed(machine):
    pool = Pool(machine, 65536)
    page = bytes(PAGE - 1) + b"\x01"  # differs in its very last byte
    assert pool.store(4, page) == 0
    assert pool.entry(4)["len"] > 0 and pool.entry_page(4) == page
    assert pool.load(4) == (0, page)


def test_incompressible_page_is_refused(machine):
    pool = Pool(machine, 65536)
    assert pool.store(5, random.Random(9).randbytes(PAGE)) == -E2BIG
    assert pool.entry(5) is None
    assert pool.stats() == expected_stats(max_bytes=65536, rejected=1)


def test_load_round_trip_and_bad_slots(machine):
    pool = Pool(machine, 65536)
    page = text_page(2)
    assert pool.store(9, page) == 0
    assert pool.store(9, text_page(3)) == -EEXIST, "one entry per slot"
    assert pool.load(9) == (0, page)
    assert pool.load(9) == (0, page), "a load leaves the entry for the swap cache's next reader"
    assert pool.load(1033)[0] == -ENOENT, "same bucket (1033 % 1024 == 9), another slot"
    st = pool.stats()
    assert (st["stored_pages"], st["stores"], st["loads"]) == (1, 1, 2)


def test_invalidate_gives_everything_back(machine):
    pool = Pool(machine, 65536)
    for slot, data in ((1, text_page(4)), (1025, text_page(5)), (2, bytes(PAGE))):
        assert pool.store(slot, data) == 0
    machine.call("zswap_invalidate", 1)
    machine.call("zswap_invalidate", 1)  # a second time: nothing there, nothing happens
    assert pool.entry(1) is None and pool.entry(1025) is not None, "its bucket neighbour stays"
    assert pool.age_order() == [1025]
    machine.call("zswap_invalidate", 1025)
    machine.call("zswap_invalidate", 2)
    assert pool.age_order() == [] and pool.entry(2) is None
    assert pool.stats() == expected_stats(max_bytes=65536, stores=3, invalidates=3)


def lengths(pool: Pool, pages: dict[int, bytes]) -> dict[int, int]:
    """Each page's compressed length, measured by storing and invalidating it."""
    out = {}
    for slot, data in pages.items():
        assert pool.store(slot, data) == 0
        out[slot] = pool.entry(slot)["len"]
        pool.m.call("zswap_invalidate", slot)
    return out


def test_full_pool_writes_back_oldest_first(machine):
    pages = {11: text_page(11), 12: text_page(12), 13: text_page(13)}
    probe = Pool(machine, 65536)
    size = lengths(probe, pages)
    # Room for two entries; the third forces the oldest (11) out through the
    # write-back function.  agent_nop(slot) returns the slot: success.
    pool = Pool(machine, size[11] + size[12] + size[13] - 1, writeback="agent_nop")
    assert pool.store(11, pages[11]) == 0 and pool.store(12, pages[12]) == 0
    machine.break_at("agent_nop")
    with pytest.raises(CallStopped):
        pool.store(13, pages[13])
    esp = machine.reg("esp")
    slot, page_ptr = machine.read_u32(esp + 4), machine.read_u32(esp + 8)
    assert slot == 11 and machine.read(page_ptr, PAGE) == pages[11], "the oldest, decompressed"
    machine.delete_breakpoints()
    machine.cont()
    assert pool.entry(11) is None and pool.age_order() == [12, 13]
    st = pool.stats()
    assert (st["writebacks"], st["stored_pages"], st["pool_bytes"]) == (1, 2, size[12] + size[13])
    assert st["pool_bytes"] <= st["max_bytes"]
    assert machine.call("zswap_shrink", 0) == 2, "shrink to nothing writes back both"
    assert pool.age_order() == [] and pool.stats()["pool_bytes"] == 0


def test_failed_write_back_keeps_the_entry(machine):
    # agent_nop returns its argument: a slot with the top bit set reads as a
    # negative errno, so the write-back of that slot fails.
    bad = 0x80000001
    size = lengths(Pool(machine, 65536), {bad: text_page(21)})[bad]
    pool = Pool(machine, size + 16, writeback="agent_nop")
    assert pool.store(bad, text_page(21)) == 0
    assert pool.store(22, text_page(22)) == -ENOSPC
    assert pool.age_order() == [bad] and pool.entry_page(bad) == text_page(21)
    st = pool.stats()
    assert (st["writeback_errors"], st["rejected"], st["writebacks"]) == (1, 1, 0)


def test_disabled_pool_refuses_everything(machine):
    pool = Pool(machine, 0)
    assert pool.store(1, bytes(PAGE)) == -ENOSPC
    assert pool.stats() == expected_stats()


def test_corrupted_entry_is_reported_not_trusted(machine):
    pool = Pool(machine, 65536)
    page = text_page(30)
    assert pool.store(30, page) == 0
    e = pool.entry(30)
    machine.write(e["addr"] + pool.data_offset, b"\xf0" + b"\xff" * (e["len"] - 1))
    mark = machine.mark()
    result, _ = pool.load(30)
    assert result == -EIO
    [rec] = machine.records("ZSWAP", since=mark)
    assert (rec["error"], rec.int("slot"), rec.int("len")) == ("corrupt", 30, e["len"])
    assert pool.entry(30) is not None, "the entry is kept for the harness to look at"
