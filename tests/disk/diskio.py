"""Running firmware/user/diskio.c and its byte pattern, for the disk tests."""

from dataclasses import dataclass

from harness.decode.records import Record

MODULES = ["user/diskio"]


def pattern(offset: int, length: int, seed: int) -> bytes:
    """The bytes diskio writes at disk offset ``offset`` for ``seed``
    (its pattern_byte: each a function of its own offset)."""
    return bytes((p * 131 + seed * 7 + (p >> 8)) & 0xFF for p in range(offset, offset + length))


@dataclass
class DiskioRun:
    status: int
    killed: bool
    ops: list[Record]      # the program's USER lines, one per op after open

    def rc(self, op: str) -> list[int]:
        """The results the program saw for each ``op`` (its own report)."""
        return [r.int("rc") for r in self.ops if r["op"] == op]


def run_diskio(userland, args: str) -> DiskioRun:
    pid = userland.spawn("diskio", args)
    result = userland.run()[pid]
    ops = userland.claims("USER", pid=pid)
    return DiskioRun(result.status, result.killed, ops)
