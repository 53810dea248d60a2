"""harness.targets.mmverify.functions: naming a LOCK record's lock sites by
the function whose code holds them (no QEMU)."""

from harness.decode.records import parse_record
from harness.targets.mmverify.functions import FunctionTable, caller_functions

TABLE = FunctionTable.of([(0xC0102B00, 0x40, "inversion_cpu1"),
                          (0xC0102A40, 0x80, "inversion_cpu0"),
                          (0xC0102C00, 0x10, "after_a_gap")])


def test_an_address_is_in_the_function_whose_span_holds_it():
    assert TABLE.name_at(0xC0102A40) == "inversion_cpu0", "the first byte"
    assert TABLE.name_at(0xC0102ABF) == "inversion_cpu0", "the last byte"
    assert TABLE.name_at(0xC0102B3F) == "inversion_cpu1"


def test_an_address_outside_every_function_has_no_name():
    assert TABLE.name_at(0xC0102AC0) is None, "one past inversion_cpu0's end"
    assert TABLE.name_at(0xC0102B40) is None, "between two functions"
    assert TABLE.name_at(0xC0100000) is None, "before the first"
    assert TABLE.name_at(0xC0102C10) is None, "after the last"


def test_every_caller_field_of_a_lock_record_is_named():
    record = parse_record("LOCK error=inversion first=test_b second=test_a cpu=1 "
                          "caller=0xc0102b1a earlier_caller=0xc0102a8a")
    assert caller_functions(record, TABLE) == {"caller": "inversion_cpu1",
                                               "earlier_caller": "inversion_cpu0"}
    spin = parse_record("LOCK error=spin lock=test_a holder_cpu=1 holder_caller=0xc0102c04 "
                        "waiter_cpu=0 waiter_caller=0xc0102b40")
    assert caller_functions(spin, TABLE) == {"holder_caller": "after_a_gap",
                                             "waiter_caller": None}
