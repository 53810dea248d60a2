"""mm map, mm vtop, mm pmm and mm help on the kernel at kernel_ready, checked
against what GDB and QEMU say themselves (print, monitor info mem, gva2gpa)."""

import re

import pytest

from harness.decode.qemuview import parse_info_mem

pytestmark = pytest.mark.qemu

KERNEL_TEXT = 0xC0100000


def merged(rows):
    """mm map rows without the global split: what QEMU's info mem shows."""
    out = []
    for start, end, rights, _global in rows:
        if out and out[-1][1] == start and out[-1][2] == rights:
            out[-1] = (out[-1][0], end, rights)
        else:
            out.append((start, end, rights))
    return out


def test_map_and_vtop_of_the_kernel_space(run_gdb):
    t = run_gdb(["mm map", "monitor info mem", "mm map 0", "mm vtop 0xc0100000",
                 "monitor gva2gpa 0xc0100000", "mm vtop 0xdead0000", "mm vtop &pmm_stats"])
    out = t["mm map"]
    assert re.search(r"cr3 0x[0-9a-f]{8}: the kernel \(kernel_page_directory\) \[current\]", out)
    rows = t.regions(out)
    assert rows, out
    text = [r for r in rows if r[0] == KERNEL_TEXT]
    assert text and text[0][2] == "-r-", f"kernel text is not supervisor read-only:\n{out}"
    assert all(start >= 0xC0000000 for start, *_ in rows), f"user mappings in the kernel:\n{out}"
    assert all(rights.startswith("-") for _, _, rights, _ in rows), "user-accessible kernel page"
    assert any(g for *_, g in rows), "kernel pages are global (the CPU has PGE)"
    assert "256 page tables" in out

    qemu = [(r.start, r.end, ("u" if r.user else "-") + "r" + ("w" if r.write else "-"))
            for r in parse_info_mem(t["monitor info mem"])]
    assert merged(rows) == qemu, f"mm map:\n{out}\nQEMU info mem:\n{t['monitor info mem']}"
    assert t.regions(t["mm map 0"]) == rows, "pid 0 is the kernel's own directory"

    vtop = t["mm vtop 0xc0100000"]
    assert "va 0xc0100000: PDX 768 PTX 256 offset 0x0" in vtop
    assert re.search(r"PDE 0x[0-9a-f]{8} -> 0x[0-9a-f]{8} \[P\w*\]", vtop)
    assert re.search(r"PTE 0x00100\w{3} -> 0x00100000 \[P[^W\]]*G", vtop), vtop
    assert "-> 0x00100000" in vtop and "effective: supervisor, read-only" in vtop
    assert "gpa: 0x100000" in t["monitor gva2gpa 0xc0100000"]
    assert "not mapped" in t["mm vtop 0xdead0000"]
    assert "effective: supervisor, read-write" in t["mm vtop &pmm_stats"]


def test_pmm_totals_and_ranges_match_the_kernel(run_gdb):
    t = run_gdb(["mm pmm", "print pmm_stats", "print/x pmm_bitmap_phys"])
    stats = {k: int(v) for k, v in re.findall(r"(\w+) = (\d+)", t["print pmm_stats"])}
    out = t["mm pmm"]
    totals = {m[1]: (int(m[2]), int(m[3]), float(m[4]))
              for m in re.finditer(r"^(total|usable|reserved|free|used) +(\d+) +(\d+) +([\d.]+)$",
                                   out, re.MULTILINE)}
    used = stats["frame_count"] - stats["free_frames"]
    for name, frames in (("total", stats["frame_count"]), ("usable", stats["usable_frames"]),
                         ("reserved", stats["reserved_frames"]),
                         ("free", stats["free_frames"]), ("used", used)):
        assert totals[name][0] == frames, f"{name}: {totals[name]} vs pmm_stats {stats}"
        assert totals[name][1] == frames * 4, "KiB"
        # one decimal: off by at most half a unit, exactly half for 1.25 printed as 1.2
        assert totals[name][2] == pytest.approx(frames * 4 / 1024, abs=0.05 + 1e-9), "MiB"

    ranges = [(int(m[1], 16), int(m[2], 16), int(m[3]), m[4], m[5]) for m in re.finditer(
        r"^(0x[0-9a-f]{8})\s+(0x[0-9a-f]{8})\s+(\d+)\s+[\d.]+ [KM]?i?B\s+(reserved|allocated)"
        r" *(.*)$", out, re.MULTILINE)]
    assert f"{used} set bits (agrees)" in out
    assert sum(r[2] for r in ranges) == used, "the ranges cover every used frame"
    assert sum(r[2] for r in ranges if r[3] == "reserved") == stats["reserved_frames"]
    assert all((end - start) // 4096 == n for start, end, n, *_ in ranges)
    first = ranges[0]
    assert first[:2] == (0, first[1]) and first[3] == "reserved" and "first MiB" in first[4]
    assert any("kernel image" in r[4] and r[3] == "reserved" for r in ranges)
    assert any("kernel page tables" in r[4] and r[3] == "allocated" for r in ranges)
    bitmap = int(t["print/x pmm_bitmap_phys"].split("=")[1], 16)
    assert any(s <= bitmap < e and "PMM bitmaps" in h for s, e, _, _, h in ranges)
    assert "module hello.elf" in out


def test_help_lists_every_subcommand(run_gdb):
    t = run_gdb(["mm", "mm help", "help mm", "help mm map"])
    for command in ("mm", "mm help", "help mm"):
        for sub in ("map", "vtop", "pt", "pmm", "heap", "faults", "procs", "set"):
            assert re.search(rf"^mm {sub}\b", t[command], re.MULTILINE), (command, sub)
    assert "mm map [CR3|PID]" in t["help mm map"] and "global" in t["help mm map"]


def test_with_the_firmwares_symbols_labels_and_kernel_base(run_gdb):
    """The firmware's own symbols: labels, pids, and the kernel base from its
    linker script; mm set still overrides the split."""
    t = run_gdb(["mm map", "mm show", "mm set kernel-base 0x80000000", "mm map 0",
                 "mm pt 0 0xc0100000+0x1000"])
    assert "the kernel (kernel_page_directory) [current]" in t["mm map"]
    assert "kernel-base  0xc0000000  (the firmware's harness_const_KERNEL_BASE)" in t["mm show"]
    assert re.search(r"regions: 0 B below 0xc0000000, [\d.]+ MiB from it up", t["mm map"])
    assert re.search(r"regions: 0 B below 0x80000000, [\d.]+ MiB from it up", t["mm map 0"])
    pt = t["mm pt 0 0xc0100000+0x1000"]
    assert "the kernel (kernel_page_directory) [current], 0xc0100000-0xc0101000" in pt, pt
    assert re.search(r"^  PTE  256  0xc0100000  0x00100\w{3}  0x00100000  P----A--G$", pt, re.M)
