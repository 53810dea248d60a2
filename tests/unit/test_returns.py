"""harness.decode.returns: a call's raw EAX read by its declared type."""

import pytest

from harness.decode.returns import ReturnType, return_type


@pytest.mark.parametrize("declared,eax,value", [
    ("bool", 0x6501, 1),                 # GCC's sete %al leaves the rest of EAX
    ("bool", 0xC0120000, 0),
    ("_Bool", 0x101, 1),
    ("uint8_t", 0x12345680, 0x80),
    ("char", 0x000000FF, -1),
    ("int8_t", 0xFFFFFF7F, 0x7F),
    ("uint16_t", 0xDEADBEEF, 0xBEEF),
    ("int16_t", 0x00018000, -0x8000),
    ("short", 0x7FFF, 0x7FFF),
    ("int", 0xFFFFFFF4, -12),
    ("int32_t", 0x7FFFFFFF, 0x7FFFFFFF),
    ("ssize_t", 0x80000000, -0x80000000),
    ("uint32_t", 0xFFFFFFF4, 0xFFFFFFF4),
    ("struct cpu *", 0xC0125040, 0xC0125040),
    (" unsigned int ", 0x80000000, 0x80000000),
])
def test_eax_is_read_by_the_declared_type(declared, eax, value):
    assert return_type(declared).value(eax) == value


def test_void_has_no_value():
    assert return_type("void") == ReturnType("void", 0)
    assert return_type("void").value(0x1234) is None


def test_unknown_types_are_32_bit_unsigned():
    assert return_type("paddr_t") == ReturnType("unsigned", 32)
