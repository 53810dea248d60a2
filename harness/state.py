"""Registers, guest memory (virtual and physical) and page tables of a
stopped machine.

Part of :class:`harness.machine.Machine` (a mixin: it relies on the machine's
GDB connection, RAM mapping and state checks).
"""

from __future__ import annotations

from harness import paging
from harness.errors import GdbError
from harness.mi import parse_gdb_int

CR4_PSE = 0x10
# What registers() returns when no names are given: the integer state a person
# debugging the kernel looks at (not x87/SSE/MMX or sub-registers).
CORE_REGISTERS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags",
                  "cs", "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base", "cr0", "cr2",
                  "cr3", "cr4", "efer")


class StateMixin:
    # -- registers ---------------------------------------------------------------------

    def _register_numbers(self) -> dict[str, int]:
        if not self._reg_numbers:
            names = self._require("read registers").command(
                "-data-list-register-names").payload["register-names"]
            self._reg_numbers = {n: i for i, n in enumerate(names) if n}
        return self._reg_numbers

    def registers(self, *names: str) -> dict[str, int]:
        """Current values of the named registers (CORE_REGISTERS when none are
        named), including cr0, cr2, cr3 and cr4."""
        numbers = self._register_numbers()
        wanted = names or tuple(n for n in CORE_REGISTERS if n in numbers)
        unknown = [n for n in wanted if n not in numbers]
        if unknown:
            raise KeyError(f"unknown register(s) {unknown}; this target has {sorted(numbers)}")
        gdb = self._require("read registers")
        index = " ".join(str(numbers[n]) for n in wanted)
        values = gdb.command(f"-data-list-register-values --skip-unavailable x {index}"
                             ).payload["register-values"]
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
        """Write registers of the stopped CPU in one command.  Raw registers,
        whatever frame GDB has selected (``$eip = ...`` in an expression would
        write the selected frame's saved PC instead when it is not frame 0)."""
        numbers = self._register_numbers()
        unknown = [n for n in values if n not in numbers]
        if unknown:
            raise KeyError(f"unknown register(s) {unknown}")
        pairs = " ".join(f"{numbers[n]} {v & 0xFFFFFFFF:#x}" for n, v in values.items())
        self._require("write registers").command(f"-data-write-register-values x {pairs}")

    # -- memory ------------------------------------------------------------------------

    def read(self, addr: int, size: int) -> bytes:
        """Read guest-virtual memory (through the current page tables)."""
        gdb = self._require("read memory")
        payload = gdb.command(f"-data-read-memory-bytes {addr:#x} {size}").payload
        data = b"".join(bytes.fromhex(chunk["contents"]) for chunk in payload["memory"])
        if len(data) != size:
            raise GdbError(f"read of {size} bytes at {addr:#x} returned {len(data)} "
                           "(part of the range is unmapped)", serial_tail=self._serial_tail())
        return data

    def write(self, addr: int, data: bytes) -> None:
        """Write guest-virtual memory (GDB's debug access ignores page protections)."""
        self._require("write memory").command(f"-data-write-memory-bytes {addr:#x} {data.hex()}")

    def read_u32(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little")

    def write_u32(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFFFFFF).to_bytes(4, "little"))

    def _physical_mode(self, on: bool) -> None:
        out = self._require("switch to physical memory").console(
            f"maintenance packet Qqemu.PhyMemMode:{int(on)}")
        if '"OK"' not in out:
            raise GdbError(f"QEMU refused physical memory mode: {out.strip()}",
                           mi_tail=self._mi_tail())

    def read_phys(self, addr: int, size: int) -> bytes:
        """Read guest-physical memory: from the mapped RAM file when the range is
        plain RAM, else through GDB in QEMU's physical-memory mode."""
        self._require("read physical memory")
        if self.ram is not None and self.ram.covers(addr, size):
            return self.ram.read(addr, size)
        self._physical_mode(True)
        try:
            return self.read(addr, size)
        finally:
            self._physical_mode(False)

    def write_phys(self, addr: int, data: bytes) -> None:
        """Write guest-physical memory through GDB (so QEMU drops any code it
        translated from those bytes; it does not flush the guest's TLB)."""
        self._physical_mode(True)
        try:
            self.write(addr, data)
        finally:
            self._physical_mode(False)

    def read_phys_u32(self, addr: int) -> int:
        return int.from_bytes(self.read_phys(addr, 4), "little")

    def write_phys_u32(self, addr: int, value: int) -> None:
        self.write_phys(addr, (value & 0xFFFFFFFF).to_bytes(4, "little"))

    # -- page tables (harness/paging.py on this machine's physical memory) ----------------

    def address_space(self, cr3: int | None = None) -> paging.AddressSpace:
        """Walk the address space of ``cr3`` (default: the current one)."""
        regs = self.registers("cr3", "cr4")
        return paging.walk(self, regs["cr3"] if cr3 is None else cr3,
                           pse=bool(regs["cr4"] & CR4_PSE))

    def translate(self, va: int, cr3: int | None = None) -> paging.Translation:
        """Each level of the walk for ``va``."""
        return self.address_space(cr3).translate(va)

    def pte_address(self, va: int, cr3: int | None = None) -> int:
        """Physical address of the entry that maps ``va`` (the PDE for a 4 MiB
        page); KeyError when no page table covers it."""
        t = self.translate(va, cr3)
        if t.pte is None:
            if not t.pde.present:
                raise KeyError(f"no page table covers {va:#x}")
            directory = (self.reg("cr3") if cr3 is None else cr3) & paging.FRAME_MASK
            return directory + paging.pdx(va) * 4
        return t.pde.frame + paging.ptx(va) * 4

    def write_pte(self, va: int, value: int, cr3: int | None = None) -> None:
        """Overwrite the entry mapping ``va``.  Like any write to a page table,
        this does not flush the TLB: the kernel's old translation may stay."""
        self.write_phys_u32(self.pte_address(va, cr3), value)

    def page_map_text(self) -> str:
        """The current address space as a region map (for artifacts)."""
        aspace = self.address_space()
        return (f"cr3 {aspace.cr3:#010x}, {aspace.page_tables()} page tables\n"
                + paging.format_regions(aspace.regions(split_global=True)) + "\n")

