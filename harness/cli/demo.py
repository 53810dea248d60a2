"""``make demo``: a tour of the memory manager, read from the machine itself
(GDB, guest RAM, QEMU's monitor), not from the kernel's own printouts:
the physical memory map, the kernel's page tables, a process and its map,
faults caught and decoded, shared memory seen in two address spaces, the
heap's statistics."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from harness.decode import paging
from harness.decode.text import table
from harness.errors import CallStopped
from harness.machine.machine import Machine
from harness.targets.mmverify import build
from harness.targets.mmverify.constants import firmware_constants
from harness.targets.mmverify.kernel import Kernel
from harness.targets.mmverify.processes import ProcessInfo, Userland
from harness.targets.mmverify.profile import profile


class Style:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def title(self, text: str) -> str:
        return self._wrap("1;36", f"\n== {text} ==")

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def ok(self, text: str) -> str:
        return self._wrap("32", text)

    def bad(self, text: str) -> str:
        return self._wrap("31", text)


def region_map(regions: list[paging.Region], limit: int = 12) -> str:
    text = paging.format_regions(regions[:limit])
    return text + (f"\n... {len(regions) - limit} more" if len(regions) > limit else "")


CR0_BITS = {0: "PE", 16: "WP", 31: "PG"}
CR4_BITS = {4: "PSE", 7: "PGE", 20: "SMEP", 21: "SMAP"}


def bits(value: int, names: dict[int, str]) -> str:
    return " ".join(n for b, n in names.items() if value >> b & 1) or "-"


class Tour:
    def __init__(self, m: Machine, user_dir: Path, style: Style) -> None:
        self.m, self.s = m, style
        self.k = Kernel(m)
        self.u = Userland(m, user_dir)
        self.facts: list[tuple[bool, str]] = []

    def check(self, ok: bool, fact: str) -> None:
        self.facts.append((ok, fact))

    def cpu(self) -> None:
        regs = self.m.registers()
        print(self.s.title("CPU at kernel_ready (GDB)"))
        print(
            table(
                ["register", "value", "meaning"],
                [
                    ["cr0", f"{regs['cr0']:#010x}", bits(regs["cr0"], CR0_BITS)],
                    ["cr3", f"{regs['cr3']:#010x}", "the kernel's page directory (physical)"],
                    ["cr4", f"{regs['cr4']:#010x}", bits(regs["cr4"], CR4_BITS)],
                    ["eip", f"{regs['eip']:#010x}", "kernel_ready"],
                ],
                left=(0, 2),
            )
        )

    def physical(self) -> None:
        stats = self.k.pmm_stats()
        print(self.s.title("physical memory: the loader's map and the frame bitmap"))
        print(
            table(
                ["start", "end", "size", "type"],
                [
                    [
                        f"{r['start']:#010x}",
                        f"{r['end']:#010x}",
                        paging.size_text(r["end"] - r["start"]),
                        "available" if r["type"] == 1 else f"reserved ({r['type']})",
                    ]
                    for r in self.k.memory_regions()
                ],
                left=(3,),
            )
        )
        used, reserved = self.k.pmm_bitmaps()
        rows = [
            [
                f"{a * 4096:#010x}",
                f"{b * 4096:#010x}",
                paging.size_text((b - a) * 4096),
                "reserved" if all(reserved[f] for f in range(a, b)) else "allocated",
            ]
            for a, b in used.runs(True)
        ]
        print(self.s.dim("frames in use (from the kernel's bitmap, read from guest RAM):"))
        print(table(["start", "end", "size", "why"], rows, left=(3,)))
        self.check(
            stats["free_frames"] == used.clear_count(),
            f"{stats['free_frames'] * 4 // 1024} MiB free of "
            f"{stats['usable_frames'] * 4 // 1024} MiB usable; the counter matches the bitmap",
        )

    def kernel_map(self) -> None:
        aspace = self.m.address_space()
        regions = aspace.regions(split_global=True)
        print(
            self.s.title(
                f"the kernel's address space (walker: {aspace.page_tables()} "
                "page tables, one read each)"
            )
        )
        print(region_map(regions))
        text = aspace.translate(self.m.symbol("kernel_ready"))
        kernel_base = self.m.cfg.target.kernel_base
        self.check(
            text.pa is not None and not text.write and all(r.start >= kernel_base for r in regions),
            "kernel text read-only, nothing mapped below 0xc0000000",
        )

    def process(self) -> None:
        pid = self.u.spawn("hello", "0")
        info = self.u.process(pid)
        print(
            self.s.title(
                f"process {pid} ({info.name}): cr3 {info.cr3:#x}, heap "
                f"{info.heap_base:#x}, stack top {info.stack_top:#x} (ASLR)"
            )
        )
        aspace = self.u.address_space(pid)
        user = [r for r in aspace.regions() if r.start < self.m.cfg.target.kernel_base]
        print(region_map(user))
        print(
            self.s.dim(
                "the null page, the heap and the rest of the stack: not mapped "
                "until touched (demand paging)"
            )
        )
        self.u.run()

    def faults(self) -> None:
        print(self.s.title("faults caught: the CPU's report, decoded (kernel fault log)"))
        killed = []
        for program in ("nullwrite", "writetext"):
            pid = self.u.spawn(program)
            result = self.u.run()[pid]
            killed.append(result.killed)
            rec = next(r for r in reversed(self.k.fault_log()) if r.pid == pid)
            print(
                f"  {program:10} {self.s.bad('killed')} ({result.reason}): {rec.fault.describe()}"
            )
        self.check(all(killed), "a null write and a write to read-only text, each killed")

    def shared(self) -> None:
        """Stop pong once both its segments are attached; the frame that both
        processes map in their shared-memory areas is the segment they share."""
        self.u.spawn("pingpong", "ping 3")
        self.m.break_at(self.u.symbol("pingpong", "checkpoint"))
        try:
            self.m.call("sched_run")
        except CallStopped:
            pass  # stopped at the breakpoint, as intended
        self.m.delete_breakpoints()
        maps = {p.pid: (p.name, self.shm_mappings(p)) for p in self.u.processes()}
        frame_sets = [set(pages.values()) for _, pages in maps.values()]
        common = set.intersection(*frame_sets) if len(frame_sets) == 2 else set()
        print(self.s.title("shared memory: one frame in two address spaces"))
        print(
            table(
                ["pid", "name", "virtual", "physical frame"],
                [
                    [pid, name, f"{va:#010x}", f"{pa:#010x}"]
                    for pid, (name, pages) in maps.items()
                    for va, pa in pages.items()
                    if pa in common
                ],
                left=(1,),
            )
        )
        self.m.cont()
        self.check(
            len(common) == 1 and len(maps) == 2,
            "a shared frame mapped at different addresses in two processes",
        )

    def shm_mappings(self, info: ProcessInfo) -> dict[int, int]:
        """Virtual to physical, for the present pages of a process's
        shared-memory area."""
        aspace = self.u.address_space(info.pid)
        span = firmware_constants(self.m.cfg.kernel)["USER_SHM_SPAN"]
        return {m.va: m.pa for m in aspace.mappings(info.shm_base, info.shm_base + span)}

    def heap(self) -> None:
        blocks = [self.m.call_value("kmalloc", n) for n in (24, 100, 700, 5000, 20000)]
        stats = self.k.heap_stats()
        print(self.s.title("kernel heap (after five kmallocs)"))
        print(
            table(
                ["statistic", "value"],
                [
                    ["bytes requested", stats["bytes_requested"]],
                    ["bytes in use", stats["bytes_in_use"]],
                    ["bytes mapped", stats["bytes_mapped"]],
                    ["live blocks", stats["live_blocks"]],
                    ["largest free (large region)", stats["largest_free"]],
                ],
                left=(0,),
            )
        )
        classes = [
            [stats["class_size"][i], stats["class_live"][i], stats["class_slabs"][i]]
            for i in range(len(stats["class_size"]))
            if stats["class_slabs"][i]
        ]
        print(table(["slot bytes", "live", "slabs"], classes))
        for b in blocks:
            self.m.call("kfree", b)
        errors = self.m.call("heap_check")
        self.check(errors == 0, f"heap consistent after the frees (heap_check() = {errors})")


def tour(artifacts: build.Artifacts, style: Style) -> bool:
    """Boot, walk through every step, print the summary; True if every
    fact checked held."""
    modules = [str(p) for p in sorted(artifacts.user_dir.glob("*.elf"))]
    start = time.perf_counter()
    with Machine.boot(artifacts.kernel, target=profile(artifacts), memory="64M",
                      modules=modules) as m:
        m.run_to("kernel_ready")
        boot_ms = (time.perf_counter() - start) * 1000
        print(style.title(f"booted to kernel_ready in {boot_ms:.0f} ms (QEMU + GDB in parallel)"))
        print(style.dim(m.console.text().rstrip() if m.console else ""))
        t = Tour(m, artifacts.user_dir, style)
        for step in (t.cpu, t.physical, t.kernel_map, t.process, t.faults, t.shared, t.heap):
            step()
    print(style.title("summary"))
    for ok, fact in t.facts:
        print((style.ok("  ok    ") if ok else style.bad("  FAIL  ")) + fact)
    print(
        style.dim(
            f"\n{time.perf_counter() - start:.1f} s.  More: make debug (GDB with "
            "the mm commands), make test, make bench."
        )
    )
    return all(ok for ok, _ in t.facts)


def main(argv: list[str]) -> int:
    return 0 if tour(build.build(), Style(sys.stdout.isatty())) else 1
