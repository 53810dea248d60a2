"""What a kernel function's EAX means, by its declared return type.

The i386 System V ABI returns integers in EAX, but a type narrower than 32
bits leaves the bits above it unspecified: a `bool` is AL, and GCC sets only
that (`sete %al`), so EAX may read 0x6501 for true.  The harness reads the
raw EAX after a call and keeps only what the type defines."""

from __future__ import annotations

from typing import NamedTuple


class ReturnType(NamedTuple):
    kind: str      # "void", "signed" or "unsigned"
    bits: int = 32

    def value(self, eax: int) -> int | None:
        """The value EAX holds for this type (None for void)."""
        if self.kind == "void":
            return None
        value = eax & ((1 << self.bits) - 1)
        if self.kind == "signed" and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value


NARROW = {
    "bool": ReturnType("unsigned", 8), "_Bool": ReturnType("unsigned", 8),
    "uint8_t": ReturnType("unsigned", 8), "unsigned char": ReturnType("unsigned", 8),
    "char": ReturnType("signed", 8), "signed char": ReturnType("signed", 8),
    "int8_t": ReturnType("signed", 8),
    "uint16_t": ReturnType("unsigned", 16), "unsigned short": ReturnType("unsigned", 16),
    "short": ReturnType("signed", 16), "int16_t": ReturnType("signed", 16),
}
SIGNED = ("int", "long", "int32_t", "long int", "ssize_t")


def return_type(declared: str) -> ReturnType:
    """From the type GDB's `whatis` names before the parameter list
    ("bool", "int", "struct cpu *"...): pointers and anything else unknown
    are 32-bit unsigned."""
    declared = declared.strip()
    if declared == "void":
        return ReturnType("void", 0)
    if declared in NARROW:
        return NARROW[declared]
    return ReturnType("signed" if declared in SIGNED else "unsigned")
