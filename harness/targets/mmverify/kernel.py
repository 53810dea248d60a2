"""Knowledge of this firmware: its structs, read through GDB and guest RAM.

Struct layouts come from the kernel's own debug info (``ptype/o``), so the
harness never repeats an offset that could drift from the C code.  Values are
read as raw bytes and decoded here; no GDB pretty-printing is parsed.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.decode.bitmap import Bitmap
from harness.decode.frames import ENTRY_BYTES, FrameTable
from harness.decode.pagefault import ACTIONS, KINDS, FaultRecord, PageFault, enum_names
from harness.decode.swap import SwapState
from harness.errors import GdbError
from harness.machine.machine import Machine

# A decoded struct: field name to an int, or a list of ints for an array.
# Which fields are arrays comes from the ELF's debug info at run time, not
# from anything a type checker sees, hence Any.
StructValues = dict[str, Any]

# "/*     12      |       4 */    uint32_t free_frames;" (also bitfields "12: 0")
_FIELD = re.compile(r"^/\*\s+(\d+)(?::\s*\d+)?\s*\|\s*(\d+)\s*\*/(\s+)(.+?)\s*;\s*$")
# A nested struct member opens with "/*  868  |  12 */  struct proc_limits {" and
# closes, its members and total size between, with "} limits;".
_OPEN = re.compile(r"^/\*\s+(\d+)\s*\|\s*(\d+)\s*\*/(\s+)(.+?)\s*\{\s*$")
_CLOSE = re.compile(r"^\s*\}\s*(?P<name>\w+)(?P<dims>(?:\[\d+\])*)\s*;\s*$")
_DECL = re.compile(r"^(?P<type>.*?[\s*])(?P<name>\w+)(?P<dims>(?:\[\d+\])*)$")


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    size: int
    ctype: str
    count: int  # 1 for scalars, n for arrays of n elements
    nested: bool = False  # a struct or union written out inside this one

    @property
    def element_size(self) -> int:
        return self.size // self.count


@dataclass(frozen=True)
class StructLayout:
    name: str
    size: int
    fields: dict[str, Field]

    def decode(self, data: bytes) -> StructValues:
        """Integer fields (and arrays of them) from the struct's bytes."""
        out: StructValues = {}
        for f in self.fields.values():
            fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}.get(f.element_size)
            if fmt is None or f.nested:
                continue  # nested structs and odd sizes: read them by their own layout
            values = list(struct.unpack_from(f"<{f.count}{fmt}", data, f.offset))
            out[f.name] = values if f.count > 1 or "[" in f.ctype else values[0]
        return out


def parse_ptype_offsets(text: str, name: str) -> StructLayout:
    """A StructLayout from GDB's ``ptype/o struct NAME`` output (top-level
    fields; a nested struct member is one field, its own members are not
    listed).  Raises ValueError when the text has no fields."""
    fields: dict[str, Field] = {}
    depth_indent = None
    opened: list[tuple[int, int, int, str]] = []  # nested members: offset, size, indent, type
    size = 0
    for line in text.splitlines():
        m = _FIELD.match(line) or _OPEN.match(line)
        indent = len(m.group(3)) if m else 0
        if m and depth_indent is None:
            depth_indent = indent
        if m and m.re is _OPEN:
            opened.append((int(m.group(1)), int(m.group(2)), indent, m.group(4).strip()))
            continue
        close = _CLOSE.match(line)
        if close and opened:
            offset, field_size, open_indent, ctype = opened.pop()
            if open_indent == depth_indent:
                dims = [int(d) for d in re.findall(r"\[(\d+)\]", close.group("dims"))]
                fields[close.group("name")] = Field(close.group("name"), offset, field_size,
                                                    ctype + close.group("dims"),
                                                    math.prod(dims), nested=True)
            continue
        if m:
            if indent != depth_indent:
                continue  # a member of a nested struct
            decl = _DECL.match(m.group(4).strip())
            if not decl:
                continue
            dims = [int(d) for d in re.findall(r"\[(\d+)\]", decl.group("dims"))]
            ctype = decl.group("type").strip() + decl.group("dims")
            fields[decl.group("name")] = Field(decl.group("name"), int(m.group(1)),
                                               int(m.group(2)), ctype, math.prod(dims))
        total = re.search(r"total size \(bytes\):\s*(\d+)", line)
        if total:  # a nested struct member's total comes first, the outer struct's last
            size = int(total.group(1))
    if not fields:
        raise ValueError(f"no fields found for struct {name} in:\n{text}")
    return StructLayout(name, size, fields)


@dataclass
class _DebugInfo:
    """What GDB said about one kernel.elf's types: the same on every machine
    booted from that file, so it is asked once per file, not once per test."""

    layouts: dict[str, StructLayout]
    enums: dict[str, list[str]]
    sizes: dict[str, int]


_DEBUG_INFO: dict[tuple[str, int], _DebugInfo] = {}


def _debug_info(machine: Machine) -> _DebugInfo:
    symbols = machine.cfg.target.symbol_file
    if symbols is None or not Path(symbols).is_file():
        return _DebugInfo({}, {}, {})
    key = (str(symbols), Path(symbols).stat().st_mtime_ns)  # a rebuilt kernel is a new key
    return _DEBUG_INFO.setdefault(key, _DebugInfo({}, {}, {}))


class Kernel:
    """Typed access to the firmware's state on one machine."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.kernel_base = machine.cfg.target.kernel_base  # the direct map starts there
        info = _debug_info(machine)
        self._layouts = info.layouts
        self._enums = info.enums
        self._sizes = info.sizes

    def layout(self, struct_name: str) -> StructLayout:
        if struct_name not in self._layouts:
            text = self.m.require_gdb(f"read struct {struct_name}'s layout").console(
                f"ptype/o struct {struct_name}")
            self._layouts[struct_name] = parse_ptype_offsets(text, struct_name)
        return self._layouts[struct_name]

    def sizeof(self, type_name: str) -> int:
        if type_name not in self._sizes:
            self._sizes[type_name] = int(self.m.evaluate(f"sizeof({type_name})"), 0)
        return self._sizes[type_name]

    def read_struct(self, struct_name: str, where: str | int) -> StructValues:
        """The integer fields of a struct at a symbol or a kernel address."""
        layout = self.layout(struct_name)
        addr = self.m.symbol(where) if isinstance(where, str) else where
        return layout.decode(self.read_kernel(addr, layout.size))

    def read_kernel(self, addr: int, size: int) -> bytes:
        """Kernel memory in the direct map, read from guest RAM when possible."""
        pa = addr - self.kernel_base
        if addr >= self.kernel_base and self.m.ram is not None and self.m.ram.covers(pa, size):
            return self.m.ram.read(pa, size)
        return self.m.read(addr, size)

    def u32(self, symbol: str) -> int:
        return int.from_bytes(self.read_kernel(self.m.symbol(symbol), 4), "little")

    def read_array(self, struct_name: str, addr: int, count: int) -> list[StructValues]:
        """``count`` consecutive structs at a kernel address."""
        layout = self.layout(struct_name)
        data = self.read_kernel(addr, layout.size * count)
        return [layout.decode(data[i * layout.size:(i + 1) * layout.size]) for i in range(count)]

    def field_address(self, struct_name: str, base: str | int, field: str) -> int:
        base_addr = self.m.symbol(base) if isinstance(base, str) else base
        return base_addr + self.layout(struct_name).fields[field].offset

    def address_space_field(self, process: int, field: str) -> int:
        """The kernel address of ``field`` of the address space (struct mm)
        of the struct process at ``process``."""
        return self.field_address("mm", self.field_address("process", process, "mm"), field)

    # -- boot information ---------------------------------------------------------------

    def memory_regions(self) -> list[StructValues]:
        """The loader's memory map as the kernel copied it (start, end, type)."""
        info = self.read_struct("boot_info", "boot_info")
        addr = self.field_address("boot_info", "boot_info", "regions")
        return self.read_array("boot_memory_region", addr, info["region_count"])

    def modules(self) -> list[StructValues]:
        """The loader's modules as the kernel copied them (start, end, and
        ``cmdline``: the module's command line, path first)."""
        info = self.read_struct("boot_info", "boot_info")
        if not info["module_count"]:
            return []
        modules = self.read_array("boot_module", info["modules"], info["module_count"])
        for m in modules:
            m["cmdline"] = self.read_kernel_string(m["cmdline"])
        return modules

    def read_kernel_string(self, addr: int, limit: int = 4096) -> str:
        """A NUL-terminated string in kernel memory (at most ``limit`` bytes)."""
        data = self.read_kernel(addr, limit)
        return data.split(b"\0", 1)[0].decode("utf-8", "replace")

    # -- physical memory manager ------------------------------------------------------

    def pmm_stats(self) -> dict[str, int]:
        return self.read_struct("pmm_stats", "pmm_stats")

    def pmm_bitmaps(self) -> tuple[Bitmap, Bitmap]:
        """(used, reserved) frame bitmaps as the kernel has them right now."""
        frames = self.pmm_stats()["frame_count"]
        size = (frames + 31) // 32 * 4
        used = self.read_kernel(self.u32("pmm_bitmap"), size)
        reserved = self.read_kernel(self.u32("pmm_reserved"), size)
        return Bitmap(used, frames), Bitmap(reserved, frames)

    def frame_table(self) -> FrameTable:
        """The frame table (mm/frame.h: refs and flags per frame), one read."""
        count = self.u32("frame_table_frames")
        return FrameTable(self.read_kernel(self.u32("frame_table"), count * ENTRY_BYTES))

    def swap_state(self) -> SwapState | None:
        """The slot map and the swap cache (mm/swap.h), or None for a kernel
        without swap; empty when swap is off or nothing has been swapped out yet."""
        try:
            self.m.symbol("swap_map")
        except GdbError:  # a kernel from before swap
            return None
        stats = self.read_struct("swap_stats", "swap_stats")
        slots, refs_at, cache_at = stats["slots"], self.u32("swap_map"), self.u32("swap_cache")
        if not slots or not refs_at:
            return SwapState(b"", ())
        return SwapState.decode(self.read_kernel(refs_at, slots),
                                self.read_kernel(cache_at, 4 * slots))

    def pmm_bitmap_word_address(self, frame: int) -> int:
        """Kernel address of the bitmap word holding ``frame``'s bit."""
        return self.u32("pmm_bitmap") + frame // 32 * 4

    def pmm_levels(self) -> list[list[int]]:
        """Every level of the PMM's bitmap as the kernel has it, as 32-bit
        words: level 0 is the frame bitmap (with its padding bits), level k
        has bit j set when word j of level k-1 is full (pmm.c's statics)."""
        count = self.u32("'pmm.c'::level_count")
        table = self.read_kernel(self.m.symbol("'pmm.c'::levels"), 4 * count)
        sizes = self.read_kernel(self.m.symbol("'pmm.c'::level_words"), 4 * count)
        out = []
        for k in range(count):
            addr = int.from_bytes(table[4 * k:4 * k + 4], "little")
            words = int.from_bytes(sizes[4 * k:4 * k + 4], "little")
            data = self.read_kernel(addr, 4 * words)
            out.append([int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)])
        return out

    def pmm_hint(self) -> int:
        """pmm_hint: the level-0 word allocate_page takes from next
        (0xFFFFFFFF when no word has a free frame); shared with buddy.c."""
        return self.u32("pmm_hint")

    # -- virtual memory ----------------------------------------------------------------

    def paging_mode(self) -> str:
        """The VMM's paging mode: "legacy" or "pae" (vmm.c's vmm_mode)."""
        return ("legacy", "pae")[self.u32("vmm_mode")]

    def nx_enabled(self) -> bool:
        """EFER.NXE as the kernel set it (PAE on a CPU with NX)."""
        return self.u32("nx_enabled") != 0

    def kernel_directory(self) -> int:
        """Kernel virtual address of the kernel's page directory (its PDPT's
        page in PAE mode): what the VMM API takes for the kernel's space."""
        return self.m.symbol("kernel_page_directory")

    def lookup(self, directory: int, va: int) -> tuple[int, int] | None:
        """The kernel's own answer (vmm_lookup): (frame, flags), or None."""
        out = self.m.symbol("agent_scratch")
        if self.m.call("vmm_lookup", directory, va, out, out + 4) != 0:
            return None
        data = self.m.read(out, 8)
        return int.from_bytes(data[:4], "little"), int.from_bytes(data[4:], "little")

    # -- processes and shared memory ----------------------------------------------------

    def process_table(self) -> list[StructValues]:
        """The slots of proc_table that are not free, raw; ``name`` as text,
        and the fields of the process's address space (its member ``mm``, a
        struct mm) among its own, as address_space_values gives them."""
        layout = self.layout("process")
        mm = layout.fields["mm"]
        count = self.sizeof("proc_table") // layout.size
        data = self.read_kernel(self.m.symbol("proc_table"), layout.size * count)
        out = []
        for i in range(count):
            raw = data[i * layout.size:(i + 1) * layout.size]
            p = layout.decode(raw)
            if p["state"] == 0:
                continue
            p["name"] = bytes(p["name"]).split(b"\0", 1)[0].decode(errors="replace")
            p.update(self.address_space_values(raw[mm.offset:mm.offset + mm.size]))
            out.append(p)
        return out

    def address_space_values(self, raw: bytes) -> StructValues:
        """A struct mm's fields from its bytes, its nested structs (which
        decode skips) as tuples: ``shm`` as (id, va, pages) ones, ``regions``
        (the mmap regions) as (start, end, prot, flags) ones and ``limits`` as
        (as_pages, resident_pages, mappings)."""
        layout = self.layout("mm")
        mm = layout.decode(raw)
        mm["limits"] = struct.unpack_from("<3I", raw, layout.fields["limits"].offset)
        shm = layout.fields["shm"]
        mm["shm"] = [struct.unpack_from("<iII", raw, shm.offset + k * shm.element_size)
                     for k in range(shm.count)]
        regions = layout.fields["regions"]  # struct vm_region: start, end, prot, flags
        mm["regions"] = [struct.unpack_from("<4I", raw, regions.offset + k * regions.element_size)
                         for k in range(min(mm["region_count"], regions.count))]
        return mm

    def shm_segments(self) -> list[StructValues]:
        """shm.c's live segments (id, pages, refs, creator), each with
        ``frames``: its frames' physical addresses (the kernel keeps frame
        numbers, as they may lie above 4 GiB), read from the kernel heap."""
        layout = self.layout("segment")
        count = self.sizeof("segments") // layout.size
        out = []
        for s in self.read_array("segment", self.m.symbol("segments"), count):
            if s["id"]:
                data = self.m.read(s["frames"], 4 * s["pages"]) if s["pages"] else b""
                s["frames"] = [pfn << 12 for pfn in struct.unpack(f"<{s['pages']}I", data)]
                out.append(s)
        return out

    # -- file system and page cache ---------------------------------------------------

    def fs_files(self) -> list[StructValues]:
        """The file system's table (fs/fs.h): ino, mode, size, data_offset and
        ``path`` as text (without the leading "/")."""
        count = self.read_struct("fs_state", "fs_state")["files"]
        files = self.read_array("fs_file", self.m.symbol("fs_files"), count) if count else []
        for f in files:
            f["path"] = bytes(f["path"]).split(b"\0", 1)[0].decode(errors="replace")
        return files

    def pagecache_stats(self) -> StructValues:
        return self.read_struct("pagecache_stats", "pagecache_stats")

    def page_cache(self) -> list[StructValues]:
        """The page cache's entries (ino, index, pfn), most recently used
        first, read along its LRU list."""
        limit = self.pagecache_stats()["pages"]
        out: list[StructValues] = []
        addr = self.u32("pagecache_lru")
        while addr:
            if len(out) > limit:
                raise ValueError(f"the page cache's LRU list runs past its {limit} pages "
                                 "(a cycle?)")
            entry = self.read_struct("pc_page", addr)
            out.append(entry)
            addr = entry["lru_next"]
        return out

    # -- kernel heap -------------------------------------------------------------------

    def heap_stats(self) -> StructValues:
        """heap_stats after heap_update_stats() (the walked figures are fresh)."""
        self.m.call("heap_update_stats")
        return self.read_struct("heap_stats", "heap_stats")

    def heap_error_counts(self) -> dict[str, int]:
        """The heap's error counters by kind name (double-free, red-zone...)."""
        names = self._enum("heap_error", "HEAP_ERR_")
        counts = self.read_struct("heap_stats", "heap_stats")["errors"]
        return {name: counts[i] for i, name in enumerate(names) if name != "count"}

    # -- page faults -------------------------------------------------------------------

    def fault_stats(self) -> StructValues:
        return self.read_struct("fault_stats", "fault_stats")

    def _enum(self, name: str, prefix: str) -> list[str]:
        key = f"enum {name}"
        if key not in self._enums:
            text = self.m.require_gdb(f"read enum {name}").console(f"ptype enum {name}")
            self._enums[key] = enum_names(text, prefix)
        return self._enums[key]

    def fault_log(self) -> list[FaultRecord]:
        """The kernel's ring buffer of recent faults, oldest first.  Entry i
        holds fault number seq where seq % size == i; older ones are overwritten."""
        total = self.fault_stats()["total"]
        size = self.sizeof("fault_log") // self.layout("fault_record").size
        entries = self.read_array("fault_record", self.m.symbol("fault_log"), size)
        reasons = self._enum("fault_reason", "REASON_")
        valid = [e for i, e in enumerate(entries)
                 if e["seq"] % size == i and total - size <= e["seq"] < total]
        return [FaultRecord(e["seq"], PageFault(e["addr"], e["err"], e["eip"]), e["pid"],
                            KINDS[e["kind"]], ACTIONS[e["action"]], reasons[e["reason"]])
                for e in sorted(valid, key=lambda e: e["seq"])]
