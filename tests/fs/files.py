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


def fnv(data: bytes) -> int:
    """FNV-1a, 32 bits: what catfile and fmap print for the bytes they read."""
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


class Checkpoints:
    """Runs the scheduler until a program of the file system (/bin/NAME)
    stops at checkpoint(step); the others run on meanwhile."""

    def __init__(self, machine: Machine, userland) -> None:
        self.m, self.u = machine, userland
        self.running = False  # inside a sched_run call stopped at a breakpoint

    def stop(self, program: str, step: int) -> int:
        """The pid stopped at ``program``'s checkpoint(step)."""
        import pytest

        from harness import CallStopped

        addr = self.u.symbol(program, "checkpoint")
        self.m.delete_breakpoints()
        self.m.break_at(addr, condition=f'$_streq(current->name, "/bin/{program}") && '
                                        f"*(int *)($esp + 4) == {step}")
        while True:
            if self.running:
                at = self.m.cont().addr
            else:
                self.running = True
                with pytest.raises(CallStopped):
                    self.m.call("sched_run")
                at = self.m.registers("eip")["eip"]
            if at != addr:
                self.running = False
                raise AssertionError(f"{program} never reached checkpoint({step})")
            esp = self.m.registers("esp")["esp"]
            if int.from_bytes(self.m.read(esp + 4, 4), "little") == step:
                cr3 = self.m.registers("cr3")["cr3"]
                return next(p.pid for p in self.u.processes() if p.cr3 == cr3)

    def finish(self) -> None:
        """Lets every process run to its end."""
        self.m.delete_breakpoints()
        if self.running:
            self.m.cont()
            self.running = False
