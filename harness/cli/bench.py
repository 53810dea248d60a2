"""The performance numbers: ``python -m harness bench [--json] [--only KEY ...]``.

Host-side costs are medians of many repetitions (wall clock); guest-side
costs are instruction counts measured by the firmware itself under
``-icount shift=0``, where the TSC advances one tick per instruction.  The last
line of output is one JSON object with every key measured; targets live in the
issues and in the README's table.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError
from harness.machine.machine import Machine
from harness.machine.pool import MachinePool
from harness.machine.qemu import QemuConfig
from harness.targets.mmverify import build
from harness.targets.mmverify.profile import profile

if TYPE_CHECKING:
    from harness.decode.records import Record
    from harness.targets.mmverify.processes import Userland

Results = dict[str, object]


def _median_us(fn: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def bench_boot(cfg: QemuConfig, out: Results, boots: int = 10) -> None:
    """boot_to_ready_ms: QEMU start to stopped at kernel_ready, GDB attached;
    smp_boot_ms: the same with four vCPUs."""
    out["boot_to_ready_ms"] = round(statistics.median(boot_times(cfg, boots)), 1)
    out["smp_boot_ms"] = round(statistics.median(boot_times(replace(cfg, smp=4), boots)), 1)


def boot_times(cfg: QemuConfig, boots: int) -> list[float]:
    """Milliseconds from QEMU's start to stopped at the target's ready point,
    GDB attached, ``boots`` times (smp_boot_ms: -smp 4, where the kernel is
    ready only once every AP is online or recorded no-start)."""
    pool = MachinePool()
    samples = []
    for _ in range(boots):
        start = time.perf_counter()
        machine = pool.boot_to_ready(cfg)
        samples.append((time.perf_counter() - start) * 1000)
        machine.close()
    return samples


def bench_mi(machine: Machine, out: Results, repeats: int = 3000) -> None:
    """mi_roundtrip_us: a 4-byte read through the harness; mi_floor_us: the
    same read as a bare loop on GDB's pipes (no tokens, no parsing, no
    bookkeeping), i.e. what GDB and QEMU cost by themselves.  The two are
    interleaved sample by sample so machine noise hits both alike."""
    addr = machine.symbol("agent_scratch")
    gdb = machine.require_gdb("time GDB's pipes")
    fd_in, fd_out = gdb.raw_fds()
    command = f"-data-read-memory-bytes {addr:#x} 4\n".encode()

    def bare() -> None:
        os.write(fd_in, command)
        buf = b""
        while True:
            buf += os.read(fd_out, 65536)
            done = buf.find(b"^done")
            if done >= 0 and buf.find(b"\n", done) >= 0:
                return

    ours, floor = [], []
    for i in range(repeats + 100):
        t0 = time.perf_counter()
        machine.read(addr, 4)
        t1 = time.perf_counter()
        bare()
        t2 = time.perf_counter()
        if i >= 100:  # warm-up
            ours.append(t1 - t0)
            floor.append(t2 - t1)
    gdb.pump_for(0.05)  # the bare loop leaves GDB's prompts unread; harmless
    out["mi_roundtrip_us"] = round(statistics.median(ours) * 1e6, 1)
    out["mi_floor_us"] = round(statistics.median(floor) * 1e6, 1)
    out["mi_overhead_ratio"] = round(statistics.median(ours) / statistics.median(floor), 3)


def bench_call(machine: Machine, out: Results, repeats: int = 300) -> None:
    machine.call("agent_nop", 1)
    out["call_us"] = round(_median_us(lambda: machine.call("agent_nop", 1), repeats), 1)


def bench_qmp(machine: Machine, out: Results, repeats: int = 300) -> None:
    machine.monitor("info status")
    out["qmp_roundtrip_us"] = round(_median_us(lambda: machine.monitor("info status"),
                                               repeats), 1)


def bench_restore(pool: MachinePool, cfg: QemuConfig, out: Results, repeats: int = 50) -> None:
    """snapshot_restore_ms: asking the pool for a machine until it is stopped
    at kernel_ready with GDB ready (a loadvm and GDB's reset)."""
    machine = pool.acquire(cfg)
    machine.write(machine.symbol("agent_scratch"), b"dirty")
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        machine = pool.acquire(cfg)
        samples.append((time.perf_counter() - start) * 1000)
    if machine.reg("eip") != machine.symbol("kernel_ready"):
        raise RuntimeError("the restored machine is not at kernel_ready: no restore time")
    _per_target(out, "snapshot_restore_ms", "mmverify", round(statistics.median(samples), 2))


def _per_target(out: Results, key: str, target: str, value: object) -> None:
    """A key measured for each target: {"mmverify": ..., "linux": ...}."""
    per_target = out.setdefault(key, {})
    if not isinstance(per_target, dict):
        raise TypeError(f"{key} is measured per target, but holds {per_target!r}")
    per_target[target] = value


def bench_linux(out: Results, repeats: int = 30) -> None:
    """Debian's i386 kernel (harness.targets.linux): linux_boot_to_prompt_s,
    QEMU start to stopped at the busybox prompt with GDB attached (one boot),
    and snapshot_restore_ms["linux"], the pool's restore of that machine, as
    for the firmware."""
    from harness.targets.linux.profile import qemu_config

    cfg = qemu_config(build.DEFAULT_BUILD_DIR)
    pool = MachinePool()
    try:
        start = time.perf_counter()
        machine = pool.acquire(cfg)  # a cold boot, then savevm
        out["linux_boot_to_prompt_s"] = round(time.perf_counter() - start, 2)
        at_ready = machine.registers("eip", "esp", "cr3")
        machine.write_phys(0x1000000, b"dirty")
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            machine = pool.acquire(cfg)
            samples.append((time.perf_counter() - start) * 1000)
        if machine.registers("eip", "esp", "cr3") != at_ready:
            raise RuntimeError("the restored Linux machine is not where it was saved")
        _per_target(out, "snapshot_restore_ms", "linux", round(statistics.median(samples), 2))
    finally:
        pool.close()


_OVERHEAD_TESTS = """
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_trivial(machine, i):
    assert machine.reg("eip")
"""

_OVERHEAD_PLUGIN = """
import json, os
durations = {}

def pytest_runtest_logreport(report):
    if report.when in ("setup", "teardown"):
        durations.setdefault(report.nodeid, 0.0)
        durations[report.nodeid] += report.duration

def pytest_sessionfinish(session):
    with open(os.environ["MMV_OVERHEAD_OUT"], "w") as f:
        json.dump(durations, f)
"""


def bench_test_overhead(out: Results, tests: int = 40) -> None:
    """test_overhead_ms: median setup+teardown of the machine fixture in a
    real pytest run of trivial tests (the first, which boots, excluded)."""
    with tempfile.TemporaryDirectory(prefix="mmv-overhead-") as tmp:
        root = Path(tmp)
        (root / "test_overhead.py").write_text(_OVERHEAD_TESTS.format(n=tests))
        (root / "overhead_plugin.py").write_text(_OVERHEAD_PLUGIN)
        result_file = root / "durations.json"
        env = dict(os.environ, MMV_OVERHEAD_OUT=str(result_file),
                   PYTHONPATH=f"{root}{os.pathsep}{build.REPO}")
        subprocess.run([sys.executable, "-m", "pytest", "-q",
                        "-p", "overhead_plugin", "-p", "no:cacheprovider", "--rootdir", tmp,
                        str(root / "test_overhead.py")],
                       cwd=tmp, env=env, check=True, capture_output=True)
        durations = list(json.loads(result_file.read_text()).values())
    out["test_overhead_ms"] = round(statistics.median(durations[1:]) * 1000, 2)


_SUMMARY = re.compile(r"(?:^|\s)(?:(\d+) failed, )?(\d+) passed\b.* in ([\d.]+)s")


def passed_count(pytest_output: str) -> int:
    """How many tests passed, from pytest's closing line ("582 passed in
    52.84s", "1 failed, 581 passed, 2 skipped in 60.1s").  Raises
    HarnessError when there is no such line, or tests failed."""
    for line in reversed(pytest_output.splitlines()):
        m = _SUMMARY.search(line)
        if m:
            if m.group(1):
                raise HarnessError(f"the suite failed: {line.strip()}")
            return int(m.group(2))
    tail = "\n".join(pytest_output.splitlines()[-15:])
    raise HarnessError(f"pytest printed no closing line:\n{tail}")


def bench_suite(out: Results, workers: int = 2) -> None:
    """suite_seconds, tests_per_second: the firmware's whole suite (tests/
    without tests/linux, another target's) under pytest -n 2, wall clock,
    the firmware already built."""
    tests = build.REPO / "tests"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", str(workers),
                           "-p", "no:cacheprovider", "--ignore", str(tests / "linux"), str(tests)],
                          cwd=build.REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    passed = passed_count(proc.stdout)
    out["suite_seconds"] = round(seconds, 1)
    out["tests_per_second"] = round(passed / seconds, 2)


def bench_pmm(cfg: QemuConfig, out: Results, pairs: int = 2000, seed_pairs: int = 20) -> None:
    """pmm_pair_insns / pmm_seed_pair_insns: instructions per allocate_page +
    free_page pair at 0, 50 and 99 % occupancy on a 128 MiB machine, ours and
    the seed's bit-by-bit scan; pmm_speedup_50 = seed / ours at 50 %."""
    pool = MachinePool()
    machine = pool.boot_to_ready(replace(cfg, memory="128M", icount=True))
    try:
        ours, seed = {}, {}
        for percent in (0, 50, 99):
            machine.call("bench_pmm_fill", percent, timeout=60)
            ours[str(percent)] = round(machine.call_value("bench_pmm_pairs", pairs) / pairs, 1)
            seed[str(percent)] = round(machine.call_value("bench_seed_pairs", seed_pairs,
                                                          timeout=120) / seed_pairs, 1)
    finally:
        pool.close_machine(machine)
    out["pmm_pair_insns"] = ours
    out["pmm_seed_pair_insns"] = seed
    out["pmm_speedup_50"] = round(seed["50"] / ours["50"], 1)
    bench_pmm_percpu(cfg, out, pairs)


def bench_pmm_percpu(cfg: QemuConfig, out: Results, pairs: int = 2000) -> None:
    """pmm_pair_insns_percpu: instructions per pcp_alloc + pcp_free pair
    through CPU 0's frame cache (firmware/mm/pcp.c), which only its own CPU
    touches and so takes no lock, on a 2-vCPU machine whose AP idles in hlt
    (the shared instruction count is the BSP's alone).  Issue 20 asks for at
    most 60."""
    pool = MachinePool()
    machine = pool.boot_to_ready(replace(cfg, memory="128M", icount=True, smp=2))
    try:
        cost = machine.call_value("bench_pmm_pairs_percpu", pairs)
    finally:
        pool.close_machine(machine)
    out["pmm_pair_insns_percpu"] = round(cost / pairs, 1)


def bench_buddy(cfg: QemuConfig, out: Results, pairs: int = 2000, scan_pairs: int = 200) -> None:
    """buddy_pair_insns_o0/_o3/_o9: instructions per allocate_block +
    free_block pair at 50% fragmentation (every other block of order k + 1
    free, the rest of memory taken: each pair splits one block and merges it
    back), a fresh 128 MiB machine per order; buddy_pair_insns_o9_bitmap:
    of an order-9 pair, the bitmap words alone (written used and free again,
    as cheap as the i486 can: what no design keeping the bitmap can save);
    scan_pair_insns: the linear
    scan allocate_pages was before the buddy, for 8 frames on a copy of the
    order-3 bitmap (firmware/bench/scan_pmm.c)."""
    pool = MachinePool()
    for order in (0, 3, 9):
        machine = pool.boot_to_ready(replace(cfg, memory="128M", icount=True))
        try:
            machine.call("bench_buddy_fragment", order, timeout=60)
            cost = machine.call_value("bench_buddy_pairs", order, pairs)
            out[f"buddy_pair_insns_o{order}"] = round(cost / pairs, 1)
            if order == 9:  # the bitmap's share: 16 words written each way (DESIGN §5)
                cost = machine.call_value("bench_buddy_bitmap_pairs", order, pairs)
                out["buddy_pair_insns_o9_bitmap"] = round(cost / pairs, 1)
            if order == 3:
                cost = machine.call_value("bench_scan_pairs", order, scan_pairs, timeout=120)
                out["scan_pair_insns"] = round(cost / scan_pairs, 1)
        finally:
            pool.close_machine(machine)


# Keys of the PAE measurements: the legacy key with this prefix.  The kernel
# runs the same VMM code in both modes (paging= on its command line).
MODES = {"legacy": "", "pae": "pae_"}


def bench_vmm(cfg: QemuConfig, out: Results, pairs: int = 2000, walks: int = 30) -> None:
    """map_unmap_insns: instructions per map_page+unmap_page pair on an
    existing page table (-icount).  pt_walk_ms: median full walk + region map
    of an address space with every kernel page table (256 legacy, 512 PAE)
    and 64 user ones.  Each for legacy paging and, with the pae_ prefix, PAE."""
    for mode, prefix in MODES.items():
        pool = MachinePool()
        machine = pool.boot_to_ready(replace(cfg, memory="128M", icount=True,
                                             cmdline=f"paging={mode}"))
        try:
            out[f"{prefix}map_unmap_insns"] = round(
                machine.call_value("bench_vmm_map_unmap", pairs) / pairs, 1)
            directory = machine.call_value("create_page_directory")
            if machine.call("bench_vmm_populate", directory, 64, 16) != 0:
                raise RuntimeError("could not populate the bench address space")
            cr3 = machine.call_value("directory_phys", directory)
            kernel_tables = 512 if mode == "pae" else 256
            samples = []
            for _ in range(walks):
                start = time.perf_counter()
                aspace = machine.address_space(cr3)
                aspace.regions()
                samples.append((time.perf_counter() - start) * 1000)
            if aspace.page_tables() != kernel_tables + 64:
                raise RuntimeError(f"the {mode} bench address space has {aspace.page_tables()}"
                                   f" page tables, not {kernel_tables} + 64")
        finally:
            pool.close_machine(machine)
        out[f"{prefix}pt_walk_ms"] = round(statistics.median(samples), 2)


HEAP_SIZES = (16, 64, 256, 1024, 2048, 8192, 65536)


def bench_heap(cfg: QemuConfig, out: Results, pairs: int = 2000) -> None:
    """heap_pair_insns: instructions per kmalloc+kfree pair by size, on a heap
    in use (-icount).  heap_footprint_ratio: the 50 000-operation fixed-seed
    workload's peak bytes mapped over peak bytes live.  Production checks on."""
    pool = MachinePool()
    machine = pool.boot_to_ready(replace(cfg, memory="128M", icount=True))
    try:
        out["heap_pair_insns"] = {str(size): round(machine.call_value(
            "bench_heap_pairs", size, pairs) / pairs, 1) for size in HEAP_SIZES}
        ratio = machine.call_value("bench_heap_footprint", 12345, 50000, timeout=600)
        out["heap_footprint_ratio"] = round(ratio / 1000, 3)
    finally:
        pool.close_machine(machine)


def program_claim(userland: Userland, prog: str, args: str) -> Record:
    """Runs one user program to its end: its USER claim (the numbers it measured)."""
    userland.spawn(prog, args)
    userland.run()
    return next(r for r in userland.claims("USER") if r["prog"] == prog)


def demand_fault_insns(userland: Userland) -> int:
    """The demand program's mean instructions per first touch of 64 heap pages."""
    return program_claim(userland, "demand", "64").int("touch_insns")


FORK_BENCH_PAGES = 1024


def fork_insns(userland: Userland) -> tuple[float, int]:
    """forkbench: (instructions of a fork of a process with 1024 touched heap
    pages, per page; instructions of a write fault that copies a page)."""
    claim = program_claim(userland, "forkbench", str(FORK_BENCH_PAGES))
    return round(claim.int("fork_insns") / FORK_BENCH_PAGES, 1), claim.int("cow_insns")


def mmap_munmap_insns(userland: Userland) -> int:
    """The mmapbench program's mean instructions per mmap of 16 anonymous
    private pages and their munmap, untouched (256 pairs)."""
    return program_claim(userland, "mmapbench", "256").int("pair_insns")


def bench_processes(cfg: QemuConfig, user_dir: Path, out: Results) -> None:
    """demand_fault_insns: a user touch of a fresh heap page until it resumes
    (the mean of 64 touches, -icount).
    mmap_munmap_insns: mmap of 16 anonymous pages and munmap before any touch,
    system calls included (the mean of 256 pairs, -icount).
    ctx_switch_insns: two processes yielding to each other 2000 times; each
    yield is a switch there and one back, so half of a yield's cost.
    fork_insns_per_page, cow_fault_insns: forkbench (fork_insns)."""
    from harness.targets.mmverify.processes import Userland

    modules = tuple(str(user_dir / f"{name}.elf")
                    for name in ("demand", "yielder", "forkbench", "mmapbench"))
    pool = MachinePool()
    pae = pool.boot_to_ready(replace(cfg, memory="64M", icount=True, modules=modules,
                                     cmdline="paging=pae"))
    try:
        out["pae_demand_fault_insns"] = demand_fault_insns(Userland(pae, user_dir))
        out["pae_fork_insns_per_page"], out["pae_cow_fault_insns"] = \
            fork_insns(Userland(pae, user_dir))
        out["pae_mmap_munmap_insns"] = mmap_munmap_insns(Userland(pae, user_dir))
    finally:
        pool.close_machine(pae)
    machine = pool.boot_to_ready(replace(cfg, memory="64M", icount=True, modules=modules,
                                         cmdline="paging=legacy"))
    try:
        userland = Userland(machine, user_dir)
        out["demand_fault_insns"] = demand_fault_insns(userland)
        out["fork_insns_per_page"], out["cow_fault_insns"] = fork_insns(userland)
        out["mmap_munmap_insns"] = mmap_munmap_insns(userland)
        yields = 2000
        userland.spawn("yielder", str(yields))
        userland.spawn("yielder", str(yields))
        mark = machine.mark()
        userland.run()
        spent = [r.int("insns") for r in userland.claims("USER", since=mark)
                 if r["prog"] == "yielder"]
        out["ctx_switch_insns"] = round(min(spent) / yields / 2, 1)
    finally:
        pool.close_machine(machine)


def bench_files(cfg: QemuConfig, user_dir: Path, out: Results) -> None:
    """page_cache_hit_insns: a 4 KiB read() of a page the page cache holds,
    the whole system call, to its return in user mode (fsbench: the mean of
    64 reads of one page, -icount, paging=legacy)."""
    from harness.targets.mmverify.fsimage import ustar_disk
    from harness.targets.mmverify.processes import Userland

    disk = ustar_disk({"/bench/page": bytes(range(256)) * 32})
    pool = MachinePool()
    machine = pool.boot_to_ready(replace(cfg, memory="64M", icount=True, disks=(disk,),
                                         modules=(str(user_dir / "fsbench.elf"),),
                                         cmdline="paging=legacy"))
    try:
        claim = program_claim(Userland(machine, user_dir), "fsbench", "/bench/page 64")
        out["page_cache_hit_insns"] = claim.int("read_insns")
    finally:
        pool.close_machine(machine)


def bench_aslr(cfg: QemuConfig, user_dir: Path, out: Results, samples: int = 1024) -> None:
    """aslr_entropy_bits: the Shannon entropy estimate of each base over
    ``samples`` spawned processes (at most log2(samples) = 10 bits for 1024)."""
    from harness.targets.mmverify.layouts import entropy_bits, spawned_layouts
    from harness.targets.mmverify.processes import Userland

    modules = (str(user_dir / "cycler.elf"), str(user_dir / "hello.elf"))
    pool = MachinePool()
    machine = pool.boot_to_ready(replace(cfg, memory="64M", modules=modules))
    try:
        userland = Userland(machine, user_dir)
        userland.spawn("cycler", f"{samples} hello")
        userland.run(timeout=600)
        layouts = spawned_layouts(machine, "hello")
    finally:
        pool.close_machine(machine)
    out["aslr_samples"] = len(layouts)
    out["aslr_entropy_bits"] = {
        name: round(entropy_bits([getattr(layout, name) for layout in layouts]), 3)
        for name in ("stack", "heap", "shm")}


SWAP_BENCH_PAGES = 1024       # the text workload: 4 MiB paged out, then read back
OVERCOMMIT_RAM = "32M"
OVERCOMMIT_PAGES = 32 * 256   # RAM pages of that machine
OVERCOMMIT_PROCESS_PAGES = 3800  # one swapper's heap (under PROC_MAX_PAGES with its stack)
PROC_MAX = 16                 # kernel/proc.h: 7 times RAM is the most 16 swappers hold
OVERCOMMIT_PATTERNS = "rzt"   # random (to the disk), zero (one value), text (the pool)


def overcommit_run(machine: Machine, userland: Userland, multiple: int) -> bool:
    """``multiple`` times the machine's RAM in swappers (random, zero and text
    in turn) held at once: True when every one exits 0 having found every
    byte whole and nobody was killed."""
    processes = -(-multiple * OVERCOMMIT_PAGES // OVERCOMMIT_PROCESS_PAGES)
    mark = machine.mark()
    pids = [userland.spawn("swapper", f"{OVERCOMMIT_PROCESS_PAGES} "
                           f"{OVERCOMMIT_PATTERNS[i % 3]} {i}") for i in range(processes)]
    results = userland.run(timeout=600)
    claims = [c for c in userland.claims("USER", since=mark) if c["prog"] == "swapper"]
    return (all(p in results and not results[p].killed and results[p].status == 0 for p in pids)
            and len(claims) == len(pids) and all(c.int("bad") == 0 for c in claims))


def bench_swap(cfg: QemuConfig, user_dir: Path, out: Results) -> None:
    """swap_in_insns: a first touch of a page paged out to the compressed
    pool, until it resumes (the mean over the 1024 pages of the text
    workload, -icount).  zswap_ratio: that workload's pages in the pool,
    their bytes over the pool's compressed bytes.  overcommit_survived: the
    largest multiple of a 32 MiB machine's RAM (4, 5, 6, 7: 16 processes, the
    process table's size, hold at most 7) that swappers hold at once and
    finish with every byte verified (a 1 GiB swap disk; not -icount: only
    whether it completes counts)."""
    from harness import CallStopped
    from harness.machine.disks import DiskSpec
    from harness.targets.mmverify.kernel import Kernel
    from harness.targets.mmverify.processes import Userland

    modules = (str(user_dir / "swapper.elf"),)
    pool = MachinePool()
    machine = pool.boot_to_ready(replace(cfg, memory="64M", icount=True, modules=modules))
    try:
        userland = Userland(machine, user_dir)
        userland.spawn("swapper", f"{SWAP_BENCH_PAGES} t 1 pb")
        machine.break_at(userland.symbol("swapper", "checkpoint"))
        try:
            machine.call("sched_run")
        except CallStopped:  # checkpoint(1): every page in the pool
            z = Kernel(machine).read_struct("zswap_stats", "zswap_stats")
            out["zswap_ratio"] = round((z["stored_pages"] - z["same_filled"]) * 4096
                                       / max(z["pool_bytes"], 1), 2)
        else:  # a key left out would read as "not measured", not as the failure it is
            raise HarnessError("bench zswap_ratio: swapper ended without reaching "
                               "checkpoint(1) (every page in the pool)")
        machine.delete_breakpoints()
        machine.cont()
        claim = next(c for c in userland.claims("USER") if c["prog"] == "swapper")
        out["swap_in_insns"] = claim.int("swapin_insns")
    finally:
        pool.close_machine(machine)
    survived = 0
    for multiple in range(4, PROC_MAX * OVERCOMMIT_PROCESS_PAGES // OVERCOMMIT_PAGES + 1):
        machine = pool.boot_to_ready(replace(cfg, memory=OVERCOMMIT_RAM, modules=modules,
                                             disks=(DiskSpec("hdc", size="1G"),)))
        try:
            if not overcommit_run(machine, Userland(machine, user_dir), multiple):
                break
            survived = multiple
        finally:
            pool.close_machine(machine)
    out["overcommit_survived"] = survived


GROUPS = ("boot", "mi", "call", "qmp", "restore", "overhead", "pmm", "vmm", "heap", "process",
          "aslr", "files", "linux", "suite", "disk", "swap", "balloon", "numa", "ipi")


BALLOON_RAM_MIB = 128
BALLOON_TARGET_MIB = 32


def bench_balloon(cfg: QemuConfig, out: Results, cycles: int = 7) -> None:
    """balloon_inflate_mib_per_s: a 128 MiB guest ballooned to 32 MiB, host
    wall time from the QMP balloon command until query-balloon reports
    32 MiB (the guest runs meanwhile: its idle loop is the safe point that
    carries the change out), 96 MiB over the median of the cycles.
    balloon_deflate_mib_per_s: back to 128 MiB the same way (informational)."""
    from harness.machine import balloon

    pool = MachinePool()
    machine = pool.boot_to_ready(replace(cfg, memory=f"{BALLOON_RAM_MIB}M", balloon=True))
    moved = BALLOON_RAM_MIB - BALLOON_TARGET_MIB
    try:
        assert machine.qemu is not None
        qmp = machine.qemu
        inflate: list[float] = []
        deflate: list[float] = []
        machine.cont(wait=False)
        for _ in range(cycles):
            for mib, samples in ((BALLOON_TARGET_MIB, inflate), (BALLOON_RAM_MIB, deflate)):
                start = time.perf_counter()
                balloon.set_size(qmp, mib)
                balloon.wait_size(qmp, mib, timeout=30, drain=machine.drain_serial)
                samples.append(time.perf_counter() - start)
        machine.interrupt()
        out["balloon_inflate_mib_per_s"] = round(moved / statistics.median(inflate))
        out["balloon_deflate_mib_per_s"] = round(moved / statistics.median(deflate))
    finally:
        pool.close_machine(machine)


def bench_disk(cfg: QemuConfig, out: Results, reads: int = 200) -> None:
    """disk_read_4k_insns: instructions per 4 KiB read of a block never read
    before, through blk_read and the ATA driver (bus-master DMA), -icount;
    the time halted waiting for the disk is not counted (informational).
    disk_read_4k_pio_insns: the same by PIO (ata_dma=off), for comparison."""
    from harness.machine.disks import DiskSpec

    pool = MachinePool()
    for key, words in (("disk_read_4k_insns", ""), ("disk_read_4k_pio_insns", "ata_dma=off")):
        machine = pool.boot_to_ready(replace(cfg, memory="64M", icount=True, cmdline=words,
                                             disks=(DiskSpec("hda", size="4M"),)))
        try:
            cost = machine.call_value("bench_disk_read_4k", machine.symbol("blk_devices"),
                                      reads, timeout=120)
            if cost == 0xFFFFFFFF:
                raise HarnessError("bench_disk_read_4k: a read of hda failed")
            out[key] = round(cost / reads)
        finally:
            pool.close_machine(machine)


def bench_numa(cfg: QemuConfig, user_dir: Path, out: Results, pages: int = 256) -> None:
    """numa_local_fraction: on 2 nodes (48 + 16 MiB), a process bound to
    node 1 spawns a child that inherits the policy and touches ``pages``
    heap pages; the share of the child's user pages (image, heap, stack)
    whose frames lie in node 1, judged by the host: its page-table walk, and
    node 1's addresses from QEMU's `info numa` sizes laid out as QEMU lays
    them (qemunuma.node_ranges).  Target 1.0."""
    from harness.decode.qemunuma import node_ranges
    from harness.errors import CallStopped
    from harness.targets.mmverify.processes import Userland

    pool = MachinePool()
    machine = pool.boot_to_ready(replace(cfg, memory=64, numa=(48, 16), icount=True,
                                         modules=(str(user_dir / "numapages.elf"),),
                                         cmdline="aslr=off"))
    try:
        userland = Userland(machine, user_dir)
        node1 = node_ranges([n.mib for n in machine.numa_info()])[1]
        userland.spawn("numapages", f"2 2 {pages} 2")  # MPOL_BIND to node 1, then spawn
        machine.break_at(userland.symbol("numapages", "checkpoint"))
        try:
            machine.call("sched_run", timeout=120)
            raise HarnessError("numapages ended without reaching its checkpoint")
        except CallStopped:
            pass
        cr3 = machine.registers("cr3")["cr3"]
        child = next(p.pid for p in userland.processes() if p.cr3 == cr3)
        frames = [m.pa for m in userland.address_space(child).mappings(
            0, machine.cfg.target.kernel_base) if m.user]
        local = sum(any(start <= pa < end for start, end in node1) for pa in frames)
        out["numa_local_fraction"] = round(local / len(frames), 4)
        out["numa_local_pages"] = len(frames)
    finally:
        pool.close_machine(machine)


def executed_instructions(machine: Machine) -> int:
    """Instructions every vCPU has executed, from QEMU itself (QMP
    query-replay's icount, kept whether or not a replay runs): the guest
    is never asked."""
    if machine.qemu is None:
        raise HarnessError("no QEMU to ask for its instruction count")
    reply = machine.qemu.command("query-replay")
    assert isinstance(reply, dict), reply
    return int(reply["icount"])


def bench_ipi(cfg: QemuConfig, out: Results, rounds: int = 200) -> None:
    """On one machine (-icount, 2 vCPUs, CPU 1 halted in its idle loop),
    counted from outside, each as the cost of ``rounds`` + 1 calls' worth
    less that of one, which leaves the call's own cost out:

    ipi_roundtrip_insns: one ping from CPU 0 to CPU 1 until its ack
    (kernel/ipi.c's ipi_ping).
    tlb_shootdown_insns: one kernel page shot down from CPU 0, CPU 1's flush
    and ack included (kernel/tlb_tests.c's tlb_bench_shootdowns)."""
    pool = MachinePool()
    machine = pool.boot_to_ready(replace(cfg, smp=2, icount=True))
    try:
        for key, entry in (("ipi_roundtrip_insns", "ipi_ping"),
                           ("tlb_shootdown_insns", "tlb_bench_shootdowns")):
            costs = []
            for n in (1, rounds + 1):
                start = executed_instructions(machine)
                machine.call_value(entry, n)
                costs.append(executed_instructions(machine) - start)
            out[key] = round((costs[1] - costs[0]) / rounds, 1)
    finally:
        pool.close_machine(machine)


def run(only: set[str] | None = None) -> Results:
    artifacts = build.build()
    cfg = QemuConfig(kernel=artifacts.kernel, target=profile(artifacts))
    out: Results = {}
    wanted = only or set(GROUPS)
    if "boot" in wanted:
        bench_boot(cfg, out)
    pool = MachinePool()
    try:
        if wanted & {"mi", "call", "qmp", "restore"}:
            machine = pool.acquire(cfg)
            if "mi" in wanted:
                bench_mi(machine, out)
            if "call" in wanted:
                bench_call(machine, out)
            if "qmp" in wanted:
                bench_qmp(machine, out)
            if "restore" in wanted:
                bench_restore(pool, cfg, out)
    finally:
        pool.close()
    if "overhead" in wanted:
        bench_test_overhead(out)
    if "pmm" in wanted:
        bench_pmm(cfg, out)
        bench_buddy(cfg, out)
    if "vmm" in wanted:
        bench_vmm(cfg, out)
    if "heap" in wanted:
        bench_heap(cfg, out)
    if "process" in wanted:
        bench_processes(cfg, artifacts.user_dir, out)
    if "disk" in wanted:
        bench_disk(cfg, out)
    if "aslr" in wanted:
        bench_aslr(cfg, artifacts.user_dir, out)
    if "files" in wanted:
        bench_files(cfg, artifacts.user_dir, out)
    if "linux" in wanted:
        bench_linux(out)
    if "swap" in wanted:
        bench_swap(cfg, artifacts.user_dir, out)
    if "balloon" in wanted:
        bench_balloon(cfg, out)
    if "numa" in wanted:
        bench_numa(cfg, artifacts.user_dir, out)
    if "ipi" in wanted:
        bench_ipi(cfg, out)
    if "suite" in wanted:
        bench_suite(out)
    return out


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m harness bench", description=__doc__)
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    parser.add_argument("--only", nargs="*", choices=GROUPS, help="measure only these groups")
    args = parser.parse_args(argv)
    results = run(set(args.only) if args.only else None)
    if not args.json:
        for key, value in results.items():
            print(f"{key:24} {value}")
    print(json.dumps(results, sort_keys=True))
    return 0
