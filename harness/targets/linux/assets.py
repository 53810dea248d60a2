"""What a Linux machine boots: Debian's own i386 kernel and busybox, our probe
program, and the initramfs holding them, all cached under ``build/linux/``.

Packages come from the host's apt with ``apt-get download`` (no root needed
once the i386 architecture is configured; nothing is installed on the host) and
are unpacked with ``dpkg-deb -x``; only the kernel image, its config and the
static busybox are kept.  The kernel package is resolved through the
``linux-image-686`` metapackage, because Debian bumps the ABI number in the
real package's name (``linux-image-6.1.0-NN-686``) with point releases.

Everything is idempotent: a cache whose stamp names the packages apt offers
now costs one ``apt-cache`` call; ``offline=True`` (what the test session uses
when the cache is complete) costs nothing at all.  Run it by hand with
``python -m harness.targets.linux.assets`` (``make deps`` does).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BuildError, ConfigError, ToolMissingError
from harness.targets.linux.initramfs import Newc

REPO = Path(__file__).resolve().parents[3]
DEFAULT_CACHE = Path(os.environ.get("MMV_BUILD_DIR", REPO / "build")) / "linux"
KERNEL_META = "linux-image-686"
BUSYBOX = "busybox-static"
ARCH = "i386"
PROBE_SOURCE = Path(__file__).resolve().parent / "guest" / "mmvprobe.c"
PROBE_FLAGS = ("-m32", "-static", "-nostdlib", "-ffreestanding", "-fno-pie", "-no-pie",
               "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-O2", "-Wall",
               "-Werror", "-Wl,--build-id=none")
PROMPT = "mmv# "

SETUP_HINT = ("run: sudo dpkg --add-architecture i386 && sudo apt-get update "
              "(or `make deps`, which does both)")

# /init: mount what busybox's tools need, install the applets, keep kernel
# messages off the console from now on (they stay in dmesg: a message such as
# the clocksource watchdog's after a long stop would land in the middle of a
# command's output), and give the console to an interactive shell with a
# controlling tty (cttyhack), so a Ctrl-C on the serial line reaches the
# foreground program.
INIT = f"""#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root PS1='{PROMPT}'
dmesg -n 1
echo MMV-INIT
exec setsid cttyhack sh -i
"""


@dataclass(frozen=True)
class LinuxAssets:
    """Paths of what a Linux machine boots, and which packages they came from."""

    cache: Path
    packages: dict[str, str]  # package name -> version

    vmlinuz = property(lambda self: self.cache / "vmlinuz")
    kconfig = property(lambda self: self.cache / "config")
    busybox = property(lambda self: self.cache / "busybox")
    probe = property(lambda self: self.cache / "mmvprobe")

    @property
    def kernel_package(self) -> str:
        return next(p for p in self.packages if re.fullmatch(r"linux-image-\d.*-686", p))


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(f"{name} was not found on PATH; this needs a Debian or Ubuntu "
                               f"host with {package} (sudo apt-get install {package})")
    return path


def _run(argv: list[str], *, cwd: Path | None = None, what: str) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n"
                         f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
    return proc.stdout


def check_architecture() -> None:
    """ConfigError, with the command that fixes it, when dpkg cannot take
    i386 packages."""
    dpkg = _tool("dpkg", "dpkg")
    native = _run([dpkg, "--print-architecture"], what="dpkg").strip()
    foreign = _run([dpkg, "--print-foreign-architectures"], what="dpkg").split()
    if native != ARCH and ARCH not in foreign:
        raise ConfigError(f"dpkg does not have the {ARCH} architecture, which Debian's 32-bit "
                          f"kernel and busybox come from; {SETUP_HINT}")


def resolve_packages() -> list[str]:
    """The packages to download: the kernel metapackage's current
    ``linux-image-6.1.0-NN-686`` and busybox-static, as ``name:i386``."""
    apt_cache = _tool("apt-cache", "apt")
    proc = subprocess.run([apt_cache, "depends", f"{KERNEL_META}:{ARCH}"],
                          capture_output=True, text=True)
    m = re.search(r"Depends: (linux-image-\d[^\s:]*-686)(?::i386)?\s", proc.stdout)
    if proc.returncode != 0 or m is None:
        raise ConfigError(f"apt knows no {KERNEL_META}:{ARCH} (apt-cache said: "
                          f"{(proc.stderr or proc.stdout).strip()[:300]!r}); {SETUP_HINT}")
    return [f"{m.group(1)}:{ARCH}", f"{BUSYBOX}:{ARCH}"]


def _stamp(cache: Path) -> dict | None:
    try:
        stamp = json.loads((cache / "assets.json").read_text())
    except (OSError, ValueError):
        return None
    if not all((cache / name).is_file() for name in ("vmlinuz", "busybox")):
        return None
    return stamp


def fetch(cache: Path = DEFAULT_CACHE, *, offline: bool = False,
          log: Callable[[str], object] | None = None) -> LinuxAssets:
    """Make sure the cache holds Debian's current i386 kernel and busybox.

    ``offline``: a complete cache is used as it is, without asking apt
    whether Debian has moved on.  Raises ToolMissingError/ConfigError, naming
    the command that fixes it, when apt or the i386 architecture is missing.
    """
    cache.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(cache)
    if offline and stamp is not None:
        return LinuxAssets(cache, stamp["packages"])
    check_architecture()
    wanted = resolve_packages()
    names = sorted(w.removesuffix(f":{ARCH}") for w in wanted)
    if stamp is not None and sorted(stamp["packages"]) == names:
        return LinuxAssets(cache, stamp["packages"])
    apt_get = _tool("apt-get", "apt")
    dpkg_deb = _tool("dpkg-deb", "dpkg")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=cache, prefix="fetch-") as tmp:
        work = Path(tmp)
        # apt-get download as root warns that _apt cannot write here; harmless.
        _run([apt_get, "download", "-q", *wanted], cwd=work, what="apt-get download")
        versions = {}
        for deb in sorted(work.glob("*.deb")):
            fields = _run([dpkg_deb, "-f", str(deb), "Package", "Version"], what="dpkg-deb -f")
            info = dict(line.split(": ", 1) for line in fields.splitlines() if ": " in line)
            versions[info["Package"]] = info["Version"]
            _run([dpkg_deb, "-x", str(deb), str(work / "root")], what=f"dpkg-deb -x {deb.name}")
        root = work / "root"
        kernels = sorted((root / "boot").glob("vmlinuz-*"))
        configs = sorted((root / "boot").glob("config-*"))
        busybox = root / "bin" / "busybox"
        if len(kernels) != 1 or not busybox.is_file():
            raise BuildError(f"the packages {wanted} did not hold one boot/vmlinuz-* and "
                             f"bin/busybox (found {[k.name for k in kernels]})")
        for src, name in ((kernels[0], "vmlinuz"), (busybox, "busybox"),
                          *((configs[0], "config"),) * bool(configs)):
            shutil.copyfile(src, cache / f".{name}.new")
            os.replace(cache / f".{name}.new", cache / name)
        (cache / "busybox").chmod(0o755)
    stamp = {"packages": versions, "kernel": kernels[0].name,
             "fetched_s": round(time.monotonic() - started, 2)}
    (cache / ".assets.json.new").write_text(json.dumps(stamp, indent=1) + "\n")
    os.replace(cache / ".assets.json.new", cache / "assets.json")
    if log:
        log(f"fetched {', '.join(f'{p} {v}' for p, v in versions.items())} "
            f"in {stamp['fetched_s']} s")
    return LinuxAssets(cache, versions)


@contextlib.contextmanager
def locked(cache: Path = DEFAULT_CACHE) -> Iterator[None]:
    """Hold the cache's lock (an flock on ``cache/.lock``): one fetch or build
    at a time across processes (xdist workers, a `make linux-assets` beside a
    test run), with the standard library alone."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def prepare(cache: Path = DEFAULT_CACHE, *, offline: bool = True,
            log: Callable[[str], object] | None = None) -> tuple[LinuxAssets, Path]:
    """Under the cache's lock: the packages (``offline``: a complete cache as
    it is) and the initramfs."""
    with locked(cache):
        found = fetch(cache, offline=offline, log=log)
        return found, build_initramfs(found)


def build_probe(assets: LinuxAssets) -> Path:
    """Compile mmvprobe (only when its source changed): the host's gcc makes
    i386 code with -m32 and needs no i386 libc for a -nostdlib program."""
    out = assets.probe
    if out.is_file() and out.stat().st_mtime >= PROBE_SOURCE.stat().st_mtime:
        return out
    gcc = _tool("gcc", "gcc")
    tmp = out.with_name(".mmvprobe.new")
    _run([gcc, *PROBE_FLAGS, "-o", str(tmp), str(PROBE_SOURCE)], what="building mmvprobe")
    os.replace(tmp, out)
    return out


def initramfs_bytes(busybox: bytes, probe: bytes) -> bytes:
    """The initramfs: busybox, /init, mmvprobe, the console's device nodes
    (the kernel opens /dev/console before /init mounts devtmpfs)."""
    archive = Newc()
    for directory in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys",
                      "tmp", "root"):
        archive.directory(directory)
    archive.chardev("dev/console", 5, 1)
    archive.chardev("dev/ttyS0", 4, 64)
    archive.chardev("dev/null", 1, 3, 0o666)
    archive.file("bin/busybox", busybox, 0o755)
    archive.file("bin/mmvprobe", probe, 0o755)
    archive.file("init", INIT.encode(), 0o755)
    return archive.finish()


def build_initramfs(assets: LinuxAssets) -> Path:
    """build/linux/initrd-<hash>.cpio, named by its content's inputs, so
    workers and sessions share it and a change makes a new one."""
    busybox = assets.busybox.read_bytes()
    probe = build_probe(assets).read_bytes()
    key = hashlib.sha256(busybox + probe + INIT.encode() + Path(__file__).read_bytes())
    path = assets.cache / f"initrd-{key.hexdigest()[:12]}.cpio"
    if not path.is_file():
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_bytes(initramfs_bytes(busybox, probe))
        os.replace(tmp, path)
        for old in assets.cache.glob("initrd-*.cpio"):  # earlier inputs' archives
            if old != path and time.time() - old.stat().st_mtime > 3600:
                old.unlink(missing_ok=True)
    return path


def main(argv: list[str]) -> int:
    offline = "--offline" in argv
    try:
        assets, initrd = prepare(offline=offline, log=print)
    except (ToolMissingError, ConfigError, BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{assets.kernel_package} {assets.packages[assets.kernel_package]}: {assets.vmlinuz}")
    print(f"initramfs: {initrd} ({initrd.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
