"""Registers, guest memory (virtual and physical) and page tables of a
stopped machine, as one vCPU sees them.

:class:`GuestState` does the work behind :class:`harness.machine.machine.Machine`'s
``registers``, ``read``, ``read_phys``, ``address_space``... (which document
them); it reaches the machine only through :class:`StateHost`.

Every GDB command it sends names its vCPU's GDB thread (``--thread N``):
registers are per vCPU, and GDB reads virtual memory through the page
tables of the thread it has selected, which after a stop is the vCPU that
stopped.  Without the pin, a breakpoint hit on CPU 1 would move the next
register read, memory read or call onto CPU 1.
"""

from __future__ import annotations

import re
from typing import Protocol

from harness.decode import modes, pae, paging
from harness.decode.mi_text import parse_gdb_int
from harness.errors import GdbError, MemoryRangeError
from harness.transport import physmem
from harness.transport.gdbmi import MiClient
from harness.transport.physmem import GuestRam

CR0_PG = 0x80000000
# GDB's thread of CPU 0 (the boot CPU), which the machine's own reads and
# calls use: QEMU lists its vCPUs to GDB in cpu_index order and GDB numbers
# the threads of its one inferior from 1 as it learns of them.
BOOT_CPU_THREAD = 1
VIRTUAL_END = 1 << 32
# Either walker's reading of one CR3 (legacy 32-bit or PAE): both have
# translate, mappings, regions and page_tables.
AnyAddressSpace = paging.AddressSpace | pae.PaeAddressSpace
AnyTranslation = paging.Translation | pae.PaeTranslation
# The most one GDB command reads or writes.  GDB moves about 10 MiB/s through
# QEMU's gdbstub, so 64 KiB is a few milliseconds, far inside the command
# timeout even on a loaded machine; larger reads come from the RAM file.
GDB_READ_LIMIT = 64 << 10
# What registers() returns when no names are given: the integer state a person
# debugging the kernel looks at (not x87/SSE/MMX or sub-registers).
CORE_REGISTERS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags",
                  "cs", "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base", "cr0", "cr2",
                  "cr3", "cr4", "efer")


def check_range(what: str, addr: int, size: int, valid: tuple[int, int], valid_name: str) -> None:
    """MemoryRangeError unless [addr, addr + size) is a non-empty part of ``valid``."""
    if size < 1:
        raise MemoryRangeError(what, addr, size, valid, valid_name, "the size must be at least 1")
    if addr < valid[0] or addr + size > valid[1]:
        raise MemoryRangeError(what, addr, size, valid, valid_name, "the range does not fit")


class StateHost(Protocol):
    """What :class:`GuestState` needs from its machine."""

    @property
    def memory_mib(self) -> int: ...

    @property
    def ram(self) -> GuestRam | None: ...

    def require_gdb(self, what: str) -> MiClient:
        """GDB, when the machine is stopped and trusted; else TargetStateError
        saying why it cannot ``what``."""
        ...

    def tails(self) -> dict[str, str]:
        """``serial_tail`` and ``mi_tail`` for a MachineError."""
        ...


class GuestState:
    """Registers, memory and page tables of ``host``'s stopped guest, as the
    vCPU behind GDB thread ``thread`` sees them."""

    def __init__(self, host: StateHost, thread: int = BOOT_CPU_THREAD) -> None:
        self.host = host
        self.thread = thread
        self._reg_numbers: dict[str, int] = {}

    # -- registers ---------------------------------------------------------------------

    def _register_numbers(self) -> dict[str, int]:
        if not self._reg_numbers:
            names = self.host.require_gdb("read registers").command(
                "-data-list-register-names").payload["register-names"]
            self._reg_numbers = {n: i for i, n in enumerate(names) if n}
        return self._reg_numbers

    def registers(self, *names: str) -> dict[str, int]:
        numbers = self._register_numbers()
        wanted = names or tuple(n for n in CORE_REGISTERS if n in numbers)
        unknown = [n for n in wanted if n not in numbers]
        if unknown:
            raise KeyError(f"unknown register(s) {unknown}; this target has {sorted(numbers)}")
        gdb = self.host.require_gdb("read registers")
        index = " ".join(str(numbers[n]) for n in wanted)
        values = gdb.command(f"-data-list-register-values --thread {self.thread} "
                             f"--skip-unavailable x {index}").payload["register-values"]
        by_number = {int(v["number"]): v["value"] for v in values}
        out = {}
        for name in wanted:
            value = by_number.get(numbers[name])
            if value is None:
                continue
            try:
                out[name] = parse_gdb_int(value)
            except ValueError:
                if names:  # asked for by name: say why it cannot be an int
                    raise KeyError(f"register {name} is not an integer ({value[:40]}...)") from None
        return out

    def reg(self, name: str) -> int:
        return self.registers(name)[name]

    def set_reg(self, name: str, value: int) -> None:
        self.write_registers(**{name: value})

    def write_registers(self, **values: int) -> None:
        numbers = self._register_numbers()
        unknown = [n for n in values if n not in numbers]
        if unknown:
            raise KeyError(f"unknown register(s) {unknown}")
        pairs = " ".join(f"{numbers[n]} {v & 0xFFFFFFFF:#x}" for n, v in values.items())
        self.host.require_gdb("write registers").command(
            f"-data-write-register-values --thread {self.thread} x {pairs}")

    # -- memory ------------------------------------------------------------------------

    def read(self, addr: int, size: int) -> bytes:
        check_range("read", addr, size, (0, VIRTUAL_END), "the 32-bit address space")
        self.host.require_gdb("read memory")
        if size > GDB_READ_LIMIT and self.host.ram is not None:
            return self._read_through_page_tables(addr, size)
        return self._read_gdb(addr, size)

    def _read_gdb(self, addr: int, size: int) -> bytes:
        """Read through GDB (virtual, or physical in QEMU's physical-memory
        mode), in pieces that each finish well within the command timeout."""
        gdb = self.host.require_gdb("read memory")
        out = bytearray()
        for start in range(addr, addr + size, GDB_READ_LIMIT):
            want = min(GDB_READ_LIMIT, addr + size - start)
            try:
                payload = gdb.command(f"-data-read-memory-bytes --thread {self.thread} "
                                      f"{start:#x} {want}").payload
            except GdbError as exc:
                # Only GDB's own answer for an unreadable address counts as a
                # short read; a GDB that died mid-command names the command,
                # whose name has "memory" in it too.
                if not re.search(r"Unable to read memory|Cannot access memory", exc.reason):
                    raise
                payload = {"memory": []}
            got = b"".join(bytes.fromhex(chunk["contents"]) for chunk in payload["memory"])
            out += got
            if len(got) != want:
                # GDB's answer to a read that runs into an unmapped page can
                # end a byte into that page: name the page.
                page = (start + len(got)) & paging.FRAME_MASK
                raise GdbError(f"read of {size} bytes at {addr:#x}: the page at {page:#x} is not "
                               "mapped", **self.host.tails())
        return bytes(out)

    def _read_through_page_tables(self, addr: int, size: int) -> bytes:
        """A large virtual read: walk the current page tables as the CPU would
        (GDB's own reads do the same walk inside QEMU) and read each run of
        physically contiguous pages with read_phys, or through GDB where the
        pages are not RAM (a device's registers)."""
        mode = self.paging_mode()
        if mode is None:  # paging off: virtual is physical
            return self.read_phys(addr, size)
        cr3 = self.reg("cr3")
        aspace = modes.walk(self, cr3, mode)
        runs: list[list[int]] = []  # [virtual start, physical start, length]
        va, end = addr, addr + size
        while va < end:
            t = aspace.translate(va)
            if t.pa is None:
                raise GdbError(f"read of {size} bytes at {addr:#x}: the page at "
                               f"{va & paging.FRAME_MASK:#x} is not mapped (cr3 {cr3:#x})",
                               **self.host.tails())
            page = _page_size(t)
            n = min(end - va, page - (va & (page - 1)))
            if runs and runs[-1][1] + runs[-1][2] == t.pa:
                runs[-1][2] += n
            else:
                runs.append([va, t.pa, n])
            va += n
        return b"".join(self.read_phys(pa, n) if self._in_ram(pa, n) else self._read_gdb(va, n)
                        for va, pa, n in runs)

    def write(self, addr: int, data: bytes) -> None:
        check_range("write", addr, len(data), (0, VIRTUAL_END),
                    "the 32-bit address space")
        self._write_gdb(addr, data)

    def _write_gdb(self, addr: int, data: bytes) -> None:
        gdb = self.host.require_gdb("write memory")
        for offset in range(0, len(data), GDB_READ_LIMIT):
            piece = data[offset:offset + GDB_READ_LIMIT]
            gdb.command(f"-data-write-memory-bytes --thread {self.thread} {addr + offset:#x} "
                        f"{piece.hex()}")

    def read_u32(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little")

    def write_u32(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFFFFFF).to_bytes(4, "little"))

    def _physical_mode(self, on: bool) -> None:
        out = self.host.require_gdb("switch to physical memory").console(
            f"maintenance packet Qqemu.PhyMemMode:{int(on)}")
        if '"OK"' not in out:
            raise GdbError(f"QEMU refused physical memory mode: {out.strip()}",
                           **self.host.tails())

    def physical_end(self) -> int:
        return physmem.ram_below_4g(self.host.memory_mib << 20)

    def ram_ranges(self) -> list[tuple[int, int]]:
        return physmem.ram_ranges(self.host.memory_mib << 20)

    def _in_ram(self, addr: int, size: int) -> bool:
        return physmem.file_offset(addr, size, self.host.memory_mib << 20) is not None

    def _check_phys(self, what: str, addr: int, size: int) -> None:
        """MemoryRangeError unless the range lies in one RAM range; the error
        names the range below 4 GiB, or the one above for an address past it."""
        ranges = self.ram_ranges()
        names = " and ".join(f"[{s:#x}, {e:#x})" for s, e in ranges)
        ram = f"guest RAM ({self.host.memory_mib} MiB: {names})"
        valid = ranges[-1] if addr >= physmem.FOUR_GIB else ranges[0]
        check_range(what, addr, size, valid, ram)

    def read_phys(self, addr: int, size: int) -> bytes:
        self._check_phys("read_phys", addr, size)
        self.host.require_gdb("read physical memory")
        if self.host.ram is not None and self.host.ram.covers(addr, size):
            return self.host.ram.read(addr, size)
        self._above_4g_needs_ram_file("read_phys", addr)
        self._physical_mode(True)
        try:
            return self._read_gdb(addr, size)
        finally:
            self._physical_mode(False)

    def write_phys(self, addr: int, data: bytes) -> None:
        self._check_phys("write_phys", addr, len(data))
        if addr >= physmem.FOUR_GIB:
            # GDB's i386 addresses are 32 bits: RAM above 4 GiB is written in
            # the shared RAM file, which the guest sees at once (plain RAM).
            self.host.require_gdb("write physical memory")
            self._above_4g_needs_ram_file("write_phys", addr)
            assert self.host.ram is not None
            self.host.ram.write(addr, data)
            return
        self._physical_mode(True)
        try:
            self._write_gdb(addr, data)
        finally:
            self._physical_mode(False)

    def _above_4g_needs_ram_file(self, what: str, addr: int) -> None:
        if addr >= physmem.FOUR_GIB and self.host.ram is None:
            raise GdbError(f"{what} at {addr:#x}: RAM above 4 GiB is reached only through the "
                           "RAM file (GDB's i386 addresses are 32 bits), and it is not mapped",
                           **self.host.tails())

    def read_phys_u32(self, addr: int) -> int:
        return int.from_bytes(self.read_phys(addr, 4), "little")

    def write_phys_u32(self, addr: int, value: int) -> None:
        self.write_phys(addr, (value & 0xFFFFFFFF).to_bytes(4, "little"))

    # -- page tables (harness.decode on this machine's physical memory) ---------------------

    def _walk_mode(self) -> tuple[int, modes.PagingMode]:
        """CR3 and the mode its tables are walked in (from CR4 and EFER,
        whether or not CR0.PG is on)."""
        regs = self.registers("cr3", "cr4")
        # QEMU's i386 gdbstub has EFER; a target without it has no NX either.
        efer = self.reg("efer") if "efer" in self._register_numbers() else 0
        return regs["cr3"], modes.PagingMode.from_registers(regs["cr4"], efer)

    def paging_mode(self) -> modes.PagingMode | None:
        mode = self._walk_mode()[1]
        return mode if self.reg("cr0") & CR0_PG else None

    def address_space(self, cr3: int | None = None) -> AnyAddressSpace:
        current, mode = self._walk_mode()
        return modes.walk(self, current if cr3 is None else cr3, mode)

    def translate(self, va: int, cr3: int | None = None) -> AnyTranslation:
        return self.address_space(cr3).translate(va)

    def pte_address(self, va: int, cr3: int | None = None) -> int:
        current, mode = self._walk_mode()
        cr3 = current if cr3 is None else cr3
        t = modes.walk(self, cr3, mode).translate(va)
        if isinstance(t, pae.PaeTranslation):
            return _pae_entry_address(t, cr3)
        if t.pte is None:
            if not t.pde.present:
                raise KeyError(f"no page table covers {va:#x}")
            return (cr3 & paging.FRAME_MASK) + paging.pdx(va) * 4
        return t.pde.frame + paging.ptx(va) * 4

    def write_pte(self, va: int, value: int, cr3: int | None = None) -> None:
        address = self.pte_address(va, cr3)
        if self._walk_mode()[1].pae:  # PAE entries are 64 bits wide
            self.write_phys(address, (value & (1 << 64) - 1).to_bytes(8, "little"))
        else:
            self.write_phys_u32(address, value)

    def page_map_text(self) -> str:
        aspace = self.address_space()
        return (f"cr3 {aspace.cr3:#010x}, {aspace.page_tables()} page tables\n"
                + paging.format_regions(aspace.regions(split_global=True),
                                        execute=isinstance(aspace, pae.PaeAddressSpace)) + "\n")


def _page_size(t: AnyTranslation) -> int:
    """The size of the page a successful translation landed in."""
    if t.pte is not None:
        return paging.PAGE_SIZE
    return pae.HUGE_PAGE_SIZE if isinstance(t, pae.PaeTranslation) else paging.LARGE_PAGE_SIZE


def _pae_entry_address(t: pae.PaeTranslation, cr3: int) -> int:
    """Physical address of the PAE entry that maps ``t.va``: its PTE, or the
    PDE of a 2 MiB page.  KeyError when no usable PDPTE and PDE lead there."""
    if t.pde is None:
        raise KeyError(f"no page directory covers {t.va:#x} (PDPTE {t.pdpte})")
    directory = t.pdpte.frame
    if t.pte is None:
        if not (t.pde.usable and t.pde.large):
            raise KeyError(f"no page table covers {t.va:#x} ({t.pde})")
        return directory + pae.pdx(t.va) * 8
    return t.pde.frame + pae.ptx(t.va) * 8
