"""Disks on the machine's IDE controller: images in the run directory, their
QEMU command-line words, blkdebug error rules, and reading them back.

Each :class:`DiskSpec` becomes one image in the machine's run directory
(``<name>.qcow2``), made with ``qemu-img`` from the spec's starting contents
(copied: the spec's own file is never written), and one
``-drive if=ide,index=N,id=<name>``, so QMP's ``query-blockstats`` names it.
qcow2 keeps savevm/loadvm working: the pool's snapshot at kernel_ready holds
the disks too, and each test starts from the disks as they were there.

A disk with :class:`DiskError` rules is a raw image behind QEMU's
``blkdebug`` driver instead (``<name>.raw``): blkdebug rules match offsets in
the node below it, and only a raw image makes those the guest's own sectors
(under qcow2 they would be offsets in the qcow2 file, which move when a
snapshot's copy-on-write relocates a cluster).  A raw image cannot hold a
snapshot, so a machine with such a disk always boots cold
(:func:`can_snapshot`).

Reading back (:func:`read_image`) goes through ``qemu-io -U`` (no lock, so
while QEMU runs): what it sees is what QEMU has written to the image file.
qcow2 metadata QEMU still caches reaches the file at the guest's flush (ATA
FLUSH CACHE, which the kernel's fsync and sync send), so a read-back is
exact for synced data; unsynced data may or may not be there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.decode.ide import IDE_NAMES
from harness.errors import ConfigError, HarnessError, ToolMissingError

SECTOR = 512
# blkdebug's events for the three operations: the raw format driver raises
# read_aio and write_aio on the node below it for every request, the block
# layer flush_to_disk for every flush.
BLKDEBUG_EVENTS = {"read": "read_aio", "write": "write_aio", "flush": "flush_to_disk"}
# blkdebug's iotype: the kind of request a rule fails (QEMU 4.1 and later).
BLKDEBUG_IOTYPES = {"read": "read", "write": "write", "flush": "flush"}
# QMP query-blockstats fields machine.blockstats() keeps.
BLOCKSTATS_FIELDS = ("rd_operations", "wr_operations", "rd_bytes", "wr_bytes",
                     "flush_operations", "failed_rd_operations", "failed_wr_operations",
                     "failed_flush_operations")


@dataclass(frozen=True)
class DiskError:
    """One blkdebug inject-error rule."""

    op: str                     # "read" | "write" | "flush"
    sector: int | None = None   # the 512-byte sector it hits (None: every request)
    errno: int = 5              # EIO
    once: bool = False


@dataclass(frozen=True)
class DiskSpec:
    """One IDE disk of a machine."""

    name: str                   # "hda".."hdd" (IDE index 0..3)
    size: str = "64M"           # virtual size (QEMU-style)
    image: Path | None = None   # raw or qcow2 contents to start from (copied, never changed)
    errors: tuple[DiskError, ...] = ()
    readonly: bool = False
    # A disk that answers every request after this long and holds nothing
    # (QEMU's null-co driver: reads give zeros, writes vanish), for timeouts.
    latency_ms: int = 0

    @property
    def index(self) -> int:
        return IDE_NAMES.index(self.name)

    @property
    def format(self) -> str:
        return "null" if self.latency_ms else "raw" if self.errors else "qcow2"

    def file_name(self) -> str:
        return f"{self.name}.{self.format}"


def validate(disks: tuple[DiskSpec, ...]) -> None:
    """ConfigError for a disk QEMU would refuse or the kernel could not name."""
    seen: set[str] = set()
    for disk in disks:
        if disk.name not in IDE_NAMES:
            raise ConfigError(f"disk {disk.name!r}: the IDE disks are {', '.join(IDE_NAMES)}")
        if disk.name in seen:
            raise ConfigError(f"disk {disk.name!r} is given twice")
        seen.add(disk.name)
        if not re.fullmatch(r"\d+[KMGT]?", disk.size):
            raise ConfigError(f"disk {disk.name}: size {disk.size!r}: expected e.g. '64M'")
        if disk.image is not None and not Path(disk.image).is_file():
            raise ConfigError(f"disk {disk.name}: image {disk.image} does not exist")
        if disk.latency_ms and (disk.errors or disk.image is not None):
            raise ConfigError(f"disk {disk.name}: a latency disk (null-co) holds no image "
                              "and takes no error rules")
        for rule in disk.errors:
            if rule.op not in BLKDEBUG_EVENTS:
                raise ConfigError(f"disk {disk.name}: error op {rule.op!r}: expected one of "
                                  f"{', '.join(BLKDEBUG_EVENTS)}")
            if rule.sector is not None and rule.sector < 0:
                raise ConfigError(f"disk {disk.name}: error sector {rule.sector} is negative")


def can_snapshot(disks: tuple[DiskSpec, ...]) -> bool:
    """Whether savevm can snapshot a machine with these disks (no raw or null ones)."""
    return all(disk.format == "qcow2" for disk in disks)


def blkdebug_config(errors: tuple[DiskError, ...]) -> str:
    """The blkdebug configuration file for ``errors``: one [inject-error]
    section per rule."""
    sections = []
    for rule in errors:
        lines = ["[inject-error]", f'event = "{BLKDEBUG_EVENTS[rule.op]}"',
                 f'errno = "{rule.errno}"', f'once = "{"on" if rule.once else "off"}"']
        if rule.op in BLKDEBUG_IOTYPES:  # else the rule, once active, fails every kind of request
            lines.append(f'iotype = "{BLKDEBUG_IOTYPES[rule.op]}"')
        if rule.sector is not None:
            lines.append(f'sector = "{rule.sector}"')
        sections.append("\n".join(lines) + "\n")
    return "\n".join(sections)


def drive_args(disk: DiskSpec, run_dir: Path) -> list[str]:
    """The -drive words for ``disk`` (its image in ``run_dir``)."""
    path = run_dir / disk.file_name()
    common = f"if=ide,index={disk.index},id={disk.name},media=disk"
    if disk.readonly:
        common += ",readonly=on"
    if disk.latency_ms:
        # A geometry of its own (on the device: -drive no longer takes one),
        # else QEMU reads sector 0 at start-up to guess one, waiting out the
        # latency before the gdbstub answers.
        cyls = max(1, _bytes(disk.size) // SECTOR // (16 * 63))
        return ["-drive", f"if=none,id={disk.name},driver=null-aio,size={_bytes(disk.size)},"
                          f"read-zeroes=on,latency-ns={disk.latency_ms * 1_000_000}",
                "-device", f"ide-hd,drive={disk.name},bus=ide.{disk.index // 2},"
                           f"unit={disk.index % 2},cyls={cyls},heads=16,secs=63"]
    if not disk.errors:
        return ["-drive", f"{common},format=qcow2,file={path}"]
    config = run_dir / f"{disk.name}.blkdebug"
    return ["-drive", f"{common},format=raw,file.driver=blkdebug,file.config={config},"
                      f"file.image.driver=file,file.image.filename={path}"]


def _run(argv: list[str], what: str) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(argv, capture_output=True)
    if done.returncode != 0:
        raise HarnessError(f"{what} failed ({' '.join(argv)}): "
                           f"{done.stderr.decode(errors='replace').strip()}")
    return done


def _image_info(qemu_img: str, image: Path) -> tuple[str, int]:
    """``image``'s format and virtual size, from one ``qemu-img info``."""
    import json

    info = json.loads(_run([qemu_img, "info", "-U", "--output=json", str(image)],
                           "qemu-img info").stdout)
    return str(info["format"]), int(info["virtual-size"])


def prepare(disk: DiskSpec, run_dir: Path, qemu_img: str) -> Path:
    """Makes ``disk``'s image (and blkdebug file) in ``run_dir``; its path."""
    path = run_dir / disk.file_name()
    if disk.format == "null":
        return path  # nothing to make: QEMU's null-co driver has no image
    if disk.image is None:
        _run([qemu_img, "create", "-q", "-f", disk.format, str(path), disk.size],
             "qemu-img create")
    else:
        fmt, virtual_size = _image_info(qemu_img, disk.image)
        _run([qemu_img, "convert", "-q", "-f", fmt, "-O", disk.format, str(disk.image),
              str(path)], "qemu-img convert")
        # The spec's size is a minimum: a larger starting image keeps its own
        # (convert keeps the virtual size).
        if virtual_size < _bytes(disk.size):
            _run([qemu_img, "resize", "-q", "-f", disk.format, str(path), disk.size],
                 "qemu-img resize")
    if disk.errors:
        (run_dir / f"{disk.name}.blkdebug").write_text(blkdebug_config(disk.errors))
    return path


def _bytes(size: str) -> int:
    m = re.fullmatch(r"(\d+)([KMGT]?)", size)
    if not m:
        raise ConfigError(f"size {size!r}: expected e.g. '64M'")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m.group(2)]


_HEX_LINE = re.compile(r"^[0-9a-f]{8}:((?:\s+[0-9a-f]{2}){1,16})", re.MULTILINE)


def parse_qemu_io_dump(text: str) -> bytes:
    """The bytes of a ``qemu-io -c 'read -v'`` hex dump."""
    return bytes(int(b, 16) for line in _HEX_LINE.findall(text) for b in line.split())


def read_image(path: Path, fmt: str, offset: int, length: int, qemu_io: str) -> bytes:
    """``length`` bytes at ``offset`` of the guest-visible disk in ``path``,
    read without taking QEMU's lock (so also while it runs)."""
    if fmt == "null":
        raise ConfigError(f"{path.name}: a null-co disk (latency_ms) has no image to read")
    if length < 1 or offset < 0:
        raise ValueError(f"read_disk: offset {offset}, length {length}: need offset >= 0 "
                         "and length >= 1")
    if fmt == "raw":
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        return data + bytes(length - len(data))
    done = _run([qemu_io, "-U", "-r", "-f", fmt, "-c", f"read -v {offset} {length}", str(path)],
                "qemu-io read")
    data = parse_qemu_io_dump(done.stdout.decode())
    if len(data) != length:
        raise HarnessError(f"qemu-io read of {length} bytes at {offset} of {path} gave "
                           f"{len(data)}: {done.stdout.decode()[-300:]}")
    return data


def blockstats_by_name(result: object, names: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """QMP query-blockstats' answer, as {disk name: {field: count}} for ``names``."""
    out: dict[str, dict[str, int]] = {}
    for entry in result if isinstance(result, list) else []:
        name = entry.get("device")
        if name in names:
            stats = entry.get("stats", {})
            out[name] = {f: int(stats.get(f, 0)) for f in BLOCKSTATS_FIELDS}
    return out


def find_qemu_io(qemu_img: str) -> str:
    """qemu-io next to qemu-img (both come with qemu-utils), or on PATH.
    Raises ToolMissingError when there is none."""
    sibling = Path(qemu_img).with_name("qemu-io")
    found = str(sibling) if sibling.exists() else shutil.which("qemu-io")
    if not found:
        raise ToolMissingError("qemu-io was not found on PATH; install it with: "
                               "sudo apt-get install qemu-utils")
    return found


def raw_image(sectors: dict[int, bytes], size: str = "64M") -> Path:
    """A raw image of ``size`` with ``sectors`` ({first sector: bytes}) written
    in, for DiskSpec.image; made once per content, in a cache directory
    (the spec copies it, so it is never changed)."""
    import hashlib
    import os
    import tempfile

    digest = hashlib.sha256(size.encode())
    for sector in sorted(sectors):
        digest.update(sector.to_bytes(8, "little") + sectors[sector])
    cache = Path(tempfile.gettempdir()) / f"mmverify-disks-{os.getuid()}"
    cache.mkdir(exist_ok=True)
    path = cache / f"{digest.hexdigest()[:20]}.raw"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.truncate(_bytes(size))
            for sector, data in sectors.items():
                f.seek(sector * SECTOR)
                f.write(data)
        tmp.replace(path)  # atomic: xdist workers may race to make it
    return path
