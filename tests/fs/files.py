"""What the file-system tests put on the disk, and how they reach the
kernel's file table and page cache through kernel calls."""

from harness.machine.machine import Machine

PAGE = 4096
READAHEAD = 3  # PAGECACHE_READAHEAD (fs/pagecache.h)


def pattern(seed: int, size: int) -> bytes:
    """Bytes that differ in every word, and from every other seed's."""
    words = (size + 3) // 4
    return b"".join(((seed << 24) + i).to_bytes(4, "little") for i in range(words))[:size]


# hello.txt: one short page; big: 6 pages, the last one partly; exact: 2 whole pages
FILES = {"/hello.txt": b"hello, disk\n",
         "/data/big": pattern(1, 5 * PAGE + 2560),
         "/data/exact": pattern(2, 2 * PAGE)}


def fs_file(machine: Machine, path: str) -> int:
    """The kernel address of path's struct fs_file (by the table's order)."""
    index = list(FILES).index(path)
    return machine.symbol("fs_files") + index * int(machine.evaluate("sizeof(struct fs_file)"))


def cache_get(machine: Machine, path: str, page: int) -> tuple[int, int]:
    """pagecache_get(path's file, page): (frame number or 0, the errno it set)."""
    err = machine.call_value("kmalloc", 4)
    machine.write_u32(err, 0)
    pfn = machine.call_value("pagecache_get", fs_file(machine, path), page, err)
    rc = int.from_bytes(machine.read(err, 4), "little", signed=True)
    machine.call("kfree", err)
    return pfn, rc


def disk_reads(machine: Machine, disk: str = "hdb") -> int:
    """QEMU's count of read requests the guest made on ``disk`` (QMP)."""
    return machine.blockstats()[disk]["rd_operations"]
