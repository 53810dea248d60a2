"""Cross-checks of the harness's page-table walker against QEMU's own view
(``info mem``, ``info tlb``): two independent readings of the same tables,
in legacy or PAE mode, whichever the CPU is in.

Where they may rightly differ: QEMU's monitor does not check reserved bits,
so an entry with one set (which the CPU faults on) is a page to QEMU and
nothing to the walker.  That difference is reported too: such an entry is a
bug in the tables under test."""

from __future__ import annotations

from typing import Protocol

from harness.decode import paging
from harness.decode.modes import PagingMode
from harness.decode.pae import NX, user_write_runs
from harness.decode.qemuview import parse_info_mem, parse_info_tlb
from harness.machine.machine import Machine
from harness.machine.state import AnyAddressSpace


class CpuState(Protocol):
    """One CPU's view: a Machine (CPU 0) or a harness.machine.cpus.CpuView."""

    def paging_mode(self) -> PagingMode | None: ...

    def address_space(self, cr3: int | None = None) -> AnyAddressSpace: ...

    def monitor(self, command: str) -> str: ...


def walker_disagreements(machine: Machine, cpu: int | None = None) -> list[str]:
    """Differences between the walker and QEMU (``info mem`` and ``info tlb``)
    for the current CR3 of CPU 0, or of vCPU ``cpu`` (QEMU's monitor then
    reads that vCPU), described for an assertion message; empty when they
    agree.  A CPU with paging off agrees when QEMU says so too."""
    view: CpuState = machine if cpu is None else machine.on_cpu(cpu)
    if view.paging_mode() is None:
        said = [view.monitor(c).strip() for c in ("info mem", "info tlb")]
        return [] if said == ["PG disabled"] * 2 else [
            f"paging is off on the CPU, but QEMU's info mem/info tlb say {said}"]
    aspace = view.address_space()
    return info_mem_disagreements(view, aspace) + info_tlb_disagreements(view, aspace)


def info_mem_disagreements(machine: CpuState, aspace: AnyAddressSpace) -> list[str]:
    """The walker's region map against QEMU's ``info mem`` (which has no
    execute column, so regions differing only in NX are merged first)."""
    problems = []
    ours = user_write_runs(aspace.regions())
    qemu = [(r.start, r.end, r.user, r.write) for r in parse_info_mem(machine.monitor("info mem"))]
    if ours != qemu:
        extra = sorted(set(ours) - set(qemu))[:5]
        missing = sorted(set(qemu) - set(ours))[:5]
        problems.append(f"region map != info mem: walker only {_fmt(extra)}, "
                        f"QEMU only {_fmt(missing)}")
    return problems


def info_tlb_disagreements(machine: CpuState, aspace: AnyAddressSpace) -> list[str]:
    """Every present page of the walker against QEMU's ``info tlb``, NX
    included (the leaf entry's own bit 63; always clear in legacy mode)."""
    problems = []
    tlb = parse_info_tlb(machine.monitor("info tlb"))
    pages = {m.va: m for m in aspace.mappings()}
    if set(tlb) != set(pages):
        only_ours = [hex(v) for v in sorted(set(pages) - set(tlb))[:5]]
        only_qemu = [hex(v) for v in sorted(set(tlb) - set(pages))[:5]]
        problems.append(f"pages differ: walker only {only_ours}, QEMU only {only_qemu}")
    for va in sorted(set(tlb) & set(pages)):
        q, w = tlb[va], pages[va]
        raw = w.flags  # info tlb shows the mapping entry's own bits, not ANDed with the PDE
        leaf = w.pte if w.pte is not None else w.pde
        ours_bits = (w.pa, bool(raw & paging.USER), bool(raw & paging.WRITE),
                     bool(raw & paging.GLOBAL), bool(raw & paging.ACCESSED),
                     bool(raw & paging.DIRTY), w.pte is None, bool(leaf & NX))
        qemu_bits = (q.pa, q.user, q.write, q.global_, q.accessed, q.dirty, q.large, q.nx)
        if ours_bits != qemu_bits:
            problems.append(f"{va:#010x}: walker (pa U W G A D large NX) {ours_bits} != "
                            f"info tlb {qemu_bits}")
            if len(problems) > 8:
                break
    return problems


def _fmt(regions: list[tuple[int, int, bool, bool]]) -> str:
    return ", ".join(f"{s:#x}-{e:#x} {'u' if u else '-'}{'w' if w else '-'}"
                     for s, e, u, w in regions) or "none"
