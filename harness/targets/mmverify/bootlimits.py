"""What this firmware can take from its boot loader, and refusing the rest.

The kernel keeps a command line of ``sizeof(boot_info.cmdline) - 1`` bytes
(QEMU's ``-kernel`` puts the image's path first) and runs modules by their
base name ("/any/dir/hello.elf args" is "hello"), which must be shorter than
``sizeof(struct module.name)`` and unique.  A configuration outside those
limits would boot and silently lose something (an option cut off, a module
skipped with only a MODULE record to say so), so the pool refuses it before
the kernel runs, with the limits read from the kernel's own debug info.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import PurePath

from harness.errors import ConfigError
from harness.machine.machine import Machine
from harness.machine.qemu import QemuConfig
from harness.targets.mmverify.kernel import Kernel


@dataclass(frozen=True)
class BootLimits:
    cmdline_bytes: int       # the kernel's buffer, its NUL included
    module_name_bytes: int   # a module's name buffer, its NUL included

    @classmethod
    def of(cls, machine: Machine) -> BootLimits:
        """The limits of the kernel loaded in ``machine`` (stopped, GDB attached)."""
        kernel = Kernel(machine)
        return cls(cmdline_bytes=kernel.sizeof("boot_info.cmdline"),
                   module_name_bytes=kernel.sizeof("((struct module *)0)->name"))


def module_name(module: str) -> str:
    """The name the kernel gives a module spec ("path/hello.elf args" -> "hello")."""
    path = module.split(" ", 1)[0]
    return PurePath(path).name.removesuffix(".elf")


def kernel_cmdline(cfg: QemuConfig) -> str:
    """The command line as the kernel receives it: QEMU -kernel puts the
    image's path first, GRUB (an ISO) does not."""
    if cfg.iso is not None:
        return cfg.cmdline
    return f"{cfg.kernel} {cfg.cmdline}"


def check(cfg: QemuConfig, limits: BootLimits) -> None:
    """Raise ConfigError if the kernel could not take ``cfg`` whole."""
    cmdline = kernel_cmdline(cfg)
    if len(cmdline.encode()) >= limits.cmdline_bytes:
        raise ConfigError(
            f"the kernel command line is {len(cmdline.encode())} bytes ({cmdline[:60]!r}...), "
            f"the kernel keeps {limits.cmdline_bytes - 1} (sizeof boot_info.cmdline - 1, the "
            "kernel's path included): shorten it")
    names = [module_name(m) for m in cfg.modules]
    for module, name in zip(cfg.modules, names, strict=True):
        if not name:
            raise ConfigError(f"module {module!r} has no name (its path ends in '/')")
        if len(name.encode()) >= limits.module_name_bytes:
            raise ConfigError(
                f"module {module!r}: its name {name!r} is {len(name.encode())} bytes, the "
                f"kernel's limit is {limits.module_name_bytes - 1} (struct module.name): "
                "rename the file")
    duplicates = sorted(name for name, n in Counter(names).items() if n > 1)
    if duplicates:
        clashing = [m for m, name in zip(cfg.modules, names, strict=True) if name in duplicates]
        raise ConfigError(f"modules {clashing} share the name(s) {duplicates}: the kernel "
                          "runs modules by file name, so each must be unique")
