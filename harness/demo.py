"""``make demo``: boot the firmware and show, through GDB and QEMU, what the
memory manager has set up.  Everything shown is read from the machine (GDB,
QEMU's monitor), not taken from the kernel's own printouts."""

from __future__ import annotations

import sys
import time

from harness import build
from harness.machine import Machine


class Style:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def title(self, text: str) -> str:
        return self._wrap("1;36", f"== {text} ==")

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def ok(self, text: str) -> str:
        return self._wrap("32", text)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in out)


CR0_BITS = {0: "PE", 16: "WP", 31: "PG"}
CR4_BITS = {4: "PSE", 7: "PGE", 20: "SMEP", 21: "SMAP"}


def bits(value: int, names: dict[int, str]) -> str:
    return " ".join(n for b, n in names.items() if value >> b & 1) or "-"


def main(argv: list[str]) -> int:
    style = Style(sys.stdout.isatty())
    artifacts = build.build()
    start = time.perf_counter()
    with Machine.boot(artifacts.kernel, memory="64M") as m:
        m.run_to("kernel_ready")
        boot_ms = (time.perf_counter() - start) * 1000
        print(style.title(f"booted to kernel_ready in {boot_ms:.0f} ms (QEMU + GDB)"))
        print(style.dim(m.console.text().rstrip()))
        print()
        regs = m.registers()
        print(style.title("CPU state at kernel_ready (GDB)"))
        print(table(["register", "value", "meaning"], [
            ["eip", f"{regs['eip']:#010x}", "kernel_ready"],
            ["esp", f"{regs['esp']:#010x}", "boot stack"],
            ["cr0", f"{regs['cr0']:#010x}", bits(regs["cr0"], CR0_BITS)],
            ["cr3", f"{regs['cr3']:#010x}", "kernel page directory (physical)"],
            ["cr4", f"{regs['cr4']:#010x}", bits(regs["cr4"], CR4_BITS)],
        ]))
        print()
        print(style.title("kernel mappings (QEMU's info mem)"))
        print(m.monitor("info mem").rstrip())
        print()
        value = m.call("agent_nop", 0x1234)
        print(style.ok(f"inferior call agent_nop(0x1234) returned {value:#x} "))
    return 0
