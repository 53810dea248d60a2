"""mm faults and mm heap after the kernel faulted and allocated: the ring
buffer decoded oldest first, the live blocks with their callers, heap_check."""

import re

import pytest

pytestmark = pytest.mark.qemu

LARGE_BASE = 0xF4000000
PROBES = 40  # more faults than fault_log holds (32): the ring wraps


def test_faults_ring_buffer_oldest_first(run_gdb):
    t = run_gdb(["mm faults", "call agent_probe_read(0xdead0000)", "mm faults",
                 f"python [gdb.execute(f'call agent_probe_read({{0xa0000000 + i * 4096}})', "
                 f"to_string=True) for i in range({PROBES})]", "mm faults"])
    assert "page faults since boot: 0" in t["mm faults"] and "no faults recorded" in t["mm faults"]
    assert t["call agent_probe_read(0xdead0000)"].strip().endswith("= -14"), "-EFAULT"
    _, one, many = t.after("mm faults")
    row = re.search(r"^ *0 +0  not-present  fixup +unmapped +#PF at 0xdead0000 err=0x0 \[-\] "
                    r"not-present, kernel read, eip=0x[0-9a-f]{8}  probe_read32\+0x[0-9a-f]+",
                    one, re.MULTILINE)
    assert row, one
    assert "page faults since boot: 1 (not-present 1" in one and "fixup 1" in one

    total = PROBES + 1
    assert f"page faults since boot: {total} " in many and "keeps the last 32" in many
    seqs = [int(m[1]) for m in re.finditer(r"^ *(\d+) +0  not-present  fixup", many, re.MULTILINE)]
    assert seqs == list(range(total - 32, total)), many
    addrs = [int(a, 16) for a in re.findall(r"#PF at (0x[0-9a-f]+)", many)]
    assert addrs == [0xA0000000 + (seq - 1) * 4096 for seq in seqs], "oldest first, in order"


def test_heap_blocks_callers_and_check(run_gdb):
    t = run_gdb(["mm heap", "call kmalloc(100)", "call agent_kmalloc(5000)",
                 "call agent_kmalloc(200)", "call kfree(kmalloc(64))", "mm heap",
                 "print heap_stats.bytes_mapped",
                 f"set var *(unsigned *){LARGE_BASE:#x} = 0x31", "mm heap"])
    empty, full, corrupt = t.after("mm heap")
    assert "live blocks: 0, 0 bytes requested" in empty and "heap_check(): OK (0)" in empty
    small, large, other = (int(re.search(r"= \(void \*\) (0x[0-9a-f]+)", t[c])[1], 16)
                           for c in ("call kmalloc(100)", "call agent_kmalloc(5000)",
                                     "call agent_kmalloc(200)"))
    assert "live blocks: 3, 5300 bytes requested" in full, full
    assert re.search(rf"^{small:#010x} +100  slab 112 +live +1  0x[0-9a-f]{{8}} ", full, re.M)
    caller = r"0x[0-9a-f]{8} agent_kmalloc\+0x[0-9a-f]+ \(agent\.c:\d+\)$"
    assert re.search(rf"^{large:#010x} +5000  large [\d.]+ KiB +live +1  {caller}", full, re.M)
    assert re.search(rf"^{other:#010x} +200  slab 256 +live +1  {caller}", full, re.M), full
    mapped = int(t["print heap_stats.bytes_mapped"].split("=")[1])
    assert f"mapped {mapped // 1024} KiB" in full
    assert "double-free 0, invalid-pointer 0" in full and "use-after-free 0" in full
    assert "heap_check(): OK (0)" in full

    # The first large block's tag overwritten (size 0x30 | USED): the walk
    # says where the chain breaks, and the kernel's own check fails.
    assert f"PROBLEM: large block {LARGE_BASE:#x}: size 0x30 breaks the chain" in corrupt
    assert re.search(r"heap_check\(\): FAILED \(-\d+\)", corrupt), corrupt
    assert re.search(rf"^{small:#010x} +100  slab 112", corrupt, re.M), "slabs still listed"
