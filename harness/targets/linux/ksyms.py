"""Linux kernel symbols without a symbol file.

Debian ships no System.map or debug info in the kernel package (that is the
760 MB -dbg package), so addresses come from two places:

- ``/proc/kallsyms`` on the running kernel: every text symbol (the kernel is
  built without KALLSYMS_ALL, so no data), read over the console with a grep
  for the names wanted (the whole file is 1.4 MB, ~25 s through the emulated
  UART; a grep is ~1 s);
- the kernel image itself: the bzImage's XZ payload is a stripped vmlinux
  whose ``__ksymtab``/``__ksymtab_gpl`` sections list every exported symbol,
  data included (``empty_zero_page``, ``init_task``...), each entry three
  32-bit offsets relative to their own address (x86's PREL32 ksymtab).

With ``nokaslr`` both are the same on every boot of one kernel image, so they
are cached on disk under the image's hash (pure functions here; the cache and
the console are profile.py's).
"""

from __future__ import annotations

import lzma
import re
import struct

XZ_MAGIC = b"\xfd7zXZ\x00"
_KALLSYMS = re.compile(r"^([0-9a-f]{8}) ([A-Za-z]) (\S+)(?:\s+\[\S+\])?$")


def parse_kallsyms(text: str) -> dict[str, int]:
    """``/proc/kallsyms`` lines ("c190de10 T exc_page_fault") as name -> address.
    A name listed twice (static functions of different files) keeps its first
    address; lines that are not symbols (a shell's echo) are skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = _KALLSYMS.match(line.strip())
        if m:
            out.setdefault(m.group(3), int(m.group(1), 16))
    return out


def kallsyms_command(names: list[str]) -> str:
    """The shell command that prints the kallsyms lines of ``names``."""
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
            raise ValueError(f"not a kernel symbol name: {name!r}")
    return f"grep -E ' ({'|'.join(sorted(names))})$' /proc/kallsyms"


def vmlinux_from_bzimage(image: bytes) -> bytes:
    """The ELF inside a bzImage with an XZ payload (Debian's x86 kernels)."""
    start = image.find(XZ_MAGIC)
    if start < 0:
        raise ValueError("no XZ payload in the kernel image (expected CONFIG_KERNEL_XZ)")
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(image[start:])
    if elf[:4] != b"\x7fELF" or elf[4] != 1:
        raise ValueError("the kernel image's payload is not a 32-bit ELF")
    return elf


def exported_symbols(vmlinux: bytes) -> dict[str, int]:
    """Every EXPORT_SYMBOL(_GPL) of a 32-bit x86 vmlinux, name -> address."""
    shoff, = struct.unpack_from("<I", vmlinux, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", vmlinux, 0x2E)
    headers = [struct.unpack_from("<10I", vmlinux, shoff + i * shentsize) for i in range(shnum)]
    names_at = headers[shstrndx][4]

    def cstr(offset: int) -> str:
        return vmlinux[offset:vmlinux.index(b"\0", offset)].decode()

    sections = {cstr(names_at + h[0]): h for h in headers}  # name -> (.., addr, offset, size..)
    strings = sections["__ksymtab_strings"]
    out = {}
    for name in ("__ksymtab", "__ksymtab_gpl"):
        _, _, _, addr, offset, size, *_ = sections[name]
        for i in range(0, size, 12):
            value, name_off, _ = struct.unpack_from("<iii", vmlinux, offset + i)
            name_va = (addr + i + 4 + name_off) & 0xFFFFFFFF
            symbol = cstr(strings[4] + name_va - strings[3])
            out[symbol] = (addr + i + value) & 0xFFFFFFFF
    return out
