"""A bootable GRUB image (the real-hardware path): the kernel and user
programs as multiboot modules, built with grub-mkrescue (Debian's grub-pc-bin,
grub-common, xorriso, mtools).

``make iso`` builds build/mmverify.iso with every user program; the test suite
builds one per machine configuration (``--boot iso``), cached by content.
GRUB hands a module only its arguments, not its file name, so each module
line repeats the path: the kernel names modules after their first word.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.errors import BuildError, ToolMissingError

GRUB_HINT = "install it with: sudo apt-get install grub-pc-bin grub-common xorriso mtools"


def grub_cfg(cmdline: str, modules: list[tuple[str, str]]) -> str:
    """grub.cfg booting /boot/kernel.elf with ``cmdline`` and the modules
    (file name, arguments), without a menu delay."""
    lines = ["set timeout=0", "set default=0", 'menuentry "mmverify" {',
             f"  multiboot /boot/kernel.elf {cmdline}".rstrip()]
    for name, args in modules:
        lines.append(f"  module /boot/user/{name} /boot/user/{name} {args}".rstrip())
    lines += ["  boot", "}"]
    return "\n".join(lines) + "\n"


def build_iso(kernel: Path, modules: tuple[str, ...], cmdline: str, out_dir: Path) -> Path:
    """The ISO for this kernel, modules ("path args") and command line, built
    unless an identical one exists.  Returns its path.  Raises
    ToolMissingError without grub-mkrescue or xorriso, BuildError when they fail."""
    if not shutil.which("grub-mkrescue") or not shutil.which("xorriso"):
        raise ToolMissingError(f"grub-mkrescue or xorriso is missing; {GRUB_HINT}")
    files = [(Path(m.split(" ", 1)[0]), m.split(" ", 1)[1] if " " in m else "") for m in modules]
    digest = hashlib.sha256(cmdline.encode())
    for path in [kernel, *(p for p, _ in files)]:
        digest.update(path.name.encode() + path.read_bytes())
    for _, args in files:
        digest.update(args.encode())
    iso = out_dir / f"mmverify-{digest.hexdigest()[:16]}.iso"
    if iso.exists():
        return iso
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mmv-iso-") as tmp:
        root = Path(tmp)
        (root / "boot/grub").mkdir(parents=True)
        (root / "boot/user").mkdir()
        shutil.copy(kernel, root / "boot/kernel.elf")
        for path, _ in files:
            shutil.copy(path, root / "boot/user" / path.name)
        (root / "boot/grub/grub.cfg").write_text(
            grub_cfg(cmdline, [(p.name, a) for p, a in files]))
        partial = iso.with_suffix(".partial")
        proc = subprocess.run(["grub-mkrescue", "-o", str(partial), str(root)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"grub-mkrescue failed:\n{proc.stderr[-2000:]}")
        partial.rename(iso)  # atomic: a parallel worker never sees half an image
    return iso
