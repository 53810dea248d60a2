"""What the harness knows about the running Linux kernel, read from the
machine and from the kernel image, never from a symbol file.

- ``symbols(machine, names)``: text symbols from ``/proc/kallsyms``, cached
  on disk per kernel image (with ``nokaslr`` the addresses never change);
- ``exported(image)``: exported symbols (data too) from the image's ksymtab;
- ``swapper_pg_dir(image)``: the physical address of the kernel's own page
  directory (init_mm's), which neither list names: on i386 head_32.S puts it
  in .bss..page_aligned right before the exported ``empty_zero_page``;
- ``read_page_fault(machine)``: the fault at ``exc_page_fault``'s entry.

i386 Linux is built with ``-mregparm=3``: at the entry of
``exc_page_fault(struct pt_regs *regs, unsigned long error_code)`` EAX is
``regs`` and EDX the error code the CPU pushed (``regs->orig_ax`` is already
-1 there), and CR2 still holds the address (the handler reads it first).
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path

from harness import timeouts
from harness.decode.pagefault import PageFault
from harness.errors import ConfigError
from harness.machine.machine import Machine
from harness.targets.linux import ksyms
from harness.targets.linux.shell import Shell

PAGE_OFFSET = 0xC0000000  # CONFIG_PAGE_OFFSET (VMSPLIT_3G)
# struct pt_regs (arch/x86/include/asm/ptrace.h, 32-bit): bx cx dx si di bp ax
# ds es fs gs orig_ax ip cs flags sp ss, 4 bytes each.
PT_REGS_IP = 48
PT_REGS_CS = 52
PT_REGS_SP = 60
PAGE_FAULT_HANDLER = "exc_page_fault"
KALLSYMS_TIMEOUT = 30.0  # seconds, before --timeout-scale
# Read in one grep when the cache has none of a kernel's symbols yet.
COMMON_SYMBOLS = ("_stext", "_etext", "asm_exc_page_fault", "exc_page_fault",
                  "do_user_addr_fault", "handle_mm_fault", "entry_INT80_32",
                  "do_int80_syscall_32", "__ia32_sys_read", "ksys_read", "pipe_read",
                  "n_tty_read")


@cache
def _image_hash(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def image_hash(image: Path) -> str:
    st = Path(image).stat()
    return _image_hash(str(image), st.st_size, st.st_mtime)


def _cache_file(image: Path, kind: str) -> Path:
    return Path(image).parent / f"{kind}-{image_hash(image)}.json"


def _write_json(path: Path, data: dict) -> None:
    """Cache ``data`` beside the kernel image; a cache that cannot be written
    (an image in a read-only place) only costs the next reader a new read."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=0, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _kaslr_off(machine: Machine) -> bool:
    return "nokaslr" in machine.cfg.cmdline.split()


def cached_symbols(machine: Machine) -> dict[str, int]:
    """The kallsyms addresses known for this machine's kernel image without
    asking the guest (empty with KASLR: they change on every boot)."""
    if not _kaslr_off(machine):
        return {}
    return _load_json(_cache_file(machine.cfg.kernel, "kallsyms"))


def read_kallsyms(machine: Machine, names: list[str]) -> dict[str, int]:
    """The ``/proc/kallsyms`` addresses of ``names`` (those it has), read
    through the shell now: the guest must be at the prompt; a stopped guest is
    resumed for it and stopped again at the prompt."""
    was_stopped = machine.gdb is not None and not machine.gdb.running
    # grep reads all 1.4 MB of /proc/kallsyms: ~1 s under TCG, more on a busy host.
    found = ksyms.parse_kallsyms(Shell(machine).run(ksyms.kallsyms_command(names),
                                                    timeout=timeouts.scaled(KALLSYMS_TIMEOUT)))
    if was_stopped:
        machine.interrupt()
    return found


def symbols(machine: Machine,
            names: tuple[str, ...] | list[str] = COMMON_SYMBOLS) -> dict[str, int]:
    """Addresses of kernel text symbols.  Those not cached are read from
    ``/proc/kallsyms`` through the shell, so the guest must then be at the
    prompt (a stopped guest is resumed for that and stopped again at the
    prompt).  KeyError names a symbol the kernel lacks."""
    known = cached_symbols(machine)
    missing = [n for n in names if n not in known]
    if missing:
        found = read_kallsyms(machine, sorted(set(missing) | (set(COMMON_SYMBOLS) - set(known))))
        if _kaslr_off(machine):
            path = _cache_file(machine.cfg.kernel, "kallsyms")
            _write_json(path, {**_load_json(path), **found})
        known = {**known, **found}
        absent = [n for n in names if n not in known]
        if absent:
            raise KeyError(f"the kernel has no text symbol(s) {absent} in /proc/kallsyms")
    return {n: known[n] for n in names}


def symbol(machine: Machine, name: str) -> int:
    return symbols(machine, (name,))[name]


def exported(image: Path) -> dict[str, int]:
    """Every exported symbol of the kernel image (from its ksymtab), cached."""
    path = _cache_file(image, "ksymtab")
    table = _load_json(path)
    if not table:
        table = ksyms.exported_symbols(ksyms.vmlinux_from_bzimage(Path(image).read_bytes()))
        _write_json(path, table)
    return table


def swapper_pg_dir(image: Path) -> int:
    """Physical address of swapper_pg_dir, init_mm's page directory: the page
    before empty_zero_page (arch/x86/kernel/head_32.S, non-PAE)."""
    zero = exported(image).get("empty_zero_page")
    if zero is None:
        raise ConfigError(f"{image} exports no empty_zero_page: not an i386 Linux kernel?")
    return zero - 0x1000 - PAGE_OFFSET


def page_fault_entry(machine: Machine) -> int:
    """Where the profile's expect_fault stops: exc_page_fault's first
    instruction (needs the symbol cached or the guest at the prompt)."""
    return symbol(machine, PAGE_FAULT_HANDLER)


def read_page_fault(machine: Machine) -> PageFault:
    """The fault being handled, at exc_page_fault's entry."""
    regs = machine.registers("eax", "edx", "cr2")
    frame = machine.read(regs["eax"] + PT_REGS_IP, 8)
    return PageFault(addr=regs["cr2"], err=regs["edx"],
                     eip=int.from_bytes(frame[:4], "little"),
                     cs=int.from_bytes(frame[4:], "little") & 0xFFFF)


def elf_symbols(path: Path) -> dict[str, int]:
    """A program's symbol table (our probe: mmv_fault_insn, mmv_marker)."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(path, "rb") as f:
        table = ELFFile(f).get_section_by_name(".symtab")
        if not isinstance(table, SymbolTableSection):
            raise ConfigError(f"{path} has no symbol table (stripped?)")
        return {s.name: s["st_value"] for s in table.iter_symbols() if s.name}
