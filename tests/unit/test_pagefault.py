"""The #PF error-code decoding and its helpers, bit by bit (no QEMU)."""

import pytest

from harness.decode.pagefault import (
    ERR_FETCH,
    ERR_PRESENT,
    ERR_RSVD,
    ERR_USER,
    ERR_WRITE,
    PageFault,
    enum_names,
    mismatches,
)

BITS = {"present": ERR_PRESENT, "write": ERR_WRITE, "user": ERR_USER,
        "reserved": ERR_RSVD, "fetch": ERR_FETCH}


def test_the_error_code_bits_are_the_sdms():
    assert (ERR_PRESENT, ERR_WRITE, ERR_USER, ERR_RSVD, ERR_FETCH) == (1, 2, 4, 8, 16)


@pytest.mark.parametrize("name", sorted(BITS))
def test_each_error_code_bit_alone_sets_only_its_flag(name):
    fault = PageFault(addr=0x1000, err=BITS[name])
    assert {n: getattr(fault, n) for n in BITS} == {n: n == name for n in BITS}


def test_no_bit_is_a_kernel_read_of_a_page_not_present():
    fault = PageFault(addr=0, err=0)
    assert (fault.kind, fault.access, fault.user) == ("not-present", "read", False)


@pytest.mark.parametrize("err,kind", [
    (0, "not-present"), (ERR_WRITE | ERR_USER, "not-present"),
    (ERR_PRESENT, "protection"), (ERR_PRESENT | ERR_WRITE | ERR_USER, "protection"),
    # a reserved bit wins over P: the entry was present but malformed
    (ERR_RSVD, "reserved-bit"), (ERR_PRESENT | ERR_RSVD, "reserved-bit"),
])
def test_kind(err, kind):
    assert PageFault(addr=0, err=err).kind == kind


@pytest.mark.parametrize("err,access", [
    (0, "read"), (ERR_WRITE, "write"), (ERR_FETCH, "fetch"),
    (ERR_FETCH | ERR_WRITE, "fetch"),  # I/D is checked before W/R
])
def test_access(err, access):
    assert PageFault(addr=0, err=err).access == access


@pytest.mark.parametrize("err,text", [
    (0, "#PF at 0x00000000 err=0x0 [-] not-present, kernel read, eip=0x00000000"),
    (ERR_PRESENT | ERR_WRITE,
     "#PF at 0x00000000 err=0x3 [P W] protection, kernel write, eip=0x00000000"),
    (0x1F, "#PF at 0x00000000 err=0x1f [P W U RSVD I/D] reserved-bit, user fetch, "
           "eip=0x00000000"),
    (ERR_USER | ERR_FETCH, "#PF at 0x00000000 err=0x14 [U I/D] not-present, user fetch, "
                           "eip=0x00000000"),
    (ERR_RSVD, "#PF at 0x00000000 err=0x8 [RSVD] reserved-bit, kernel read, eip=0x00000000"),
])
def test_describe_names_every_bit(err, text):
    assert PageFault(addr=0, err=err).describe() == text


def test_describe_pads_addresses_to_eight_digits():
    fault = PageFault(addr=0xC0100000, err=ERR_PRESENT | ERR_WRITE, eip=0x1234, cs=0x8)
    assert fault.describe() == ("#PF at 0xc0100000 err=0x3 [P W] protection, kernel write, "
                                "eip=0x00001234")


def test_enum_names_from_gdb_ptype():
    text = ("type = enum fault_reason {REASON_NONE, REASON_NULL_POINTER, REASON_KERNEL_ADDRESS,"
            " REASON_WRITE_READONLY}\n")
    assert enum_names(text, "REASON_") == ["none", "null-pointer", "kernel-address",
                                           "write-readonly"]


def test_enum_names_drop_values_and_stop_at_the_last_brace():
    text = "type = enum heap_error {HEAP_ERR_A = 1, HEAP_ERR_B_C, HEAP_ERR_COUNT = 7}"
    assert enum_names(text, "HEAP_ERR_") == ["a", "b-c", "count"]
    # only the prefix is dropped, at the start only; an empty body has no names
    assert enum_names("type = enum x {X_X_1}", "X_") == ["x-1"]
    assert enum_names("type = enum x {}", "X_") == []
    assert enum_names("type = enum x {A,}", "") == ["a"]


def test_mismatches_lists_what_differs():
    fault = PageFault(addr=0xC0100000, err=ERR_PRESENT | ERR_WRITE)
    assert mismatches(fault, addr=0xC0100000, write=True, present=True, kind="protection") == []
    assert mismatches(fault, addr=0x1000, user=True, kind="not-present") == [
        "addr: expected 0x1000, got 0xc0100000",
        "user: expected True, got False",
        "kind: expected 'not-present', got 'protection'",
    ]


def test_mismatches_skips_expectations_of_none():
    fault = PageFault(addr=0x2000, err=0)
    assert mismatches(fault, addr=None, write=None) == []
    assert mismatches(fault, addr=None, write=True) == ["write: expected True, got False"]
