"""NUMA machines' command lines and RAM files (no QEMU): one
memory-backend-file per node in the run directory, -numa options for the
nodes, CPU 0 and the distances; a GuestRam reading through the files as
QEMU lays them out."""

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.machine.qemu import QemuConfig, build_argv
from harness.pytest_plugin import numa_fields
from harness.transport.physmem import GuestRam
from tests.unit.argv import values

MIB = 1 << 20


def test_one_backend_per_node_and_their_numa_options(kernel, tmp_path):
    cfg = QemuConfig(kernel=kernel, memory=64, numa=(48, 16),
                     numa_distances=((10, 21), (21, 10)))
    run = tmp_path / "run"
    argv = build_argv(cfg, run, "/usr/bin/qemu-system-i386")
    assert values(argv, "-object") == [
        f"memory-backend-file,id=ram-node0,size=48M,mem-path={run / 'ram-node0'},share=on",
        f"memory-backend-file,id=ram-node1,size=16M,mem-path={run / 'ram-node1'},share=on"]
    assert values(argv, "-numa") == [
        "node,nodeid=0,memdev=ram-node0", "node,nodeid=1,memdev=ram-node1",
        "cpu,node-id=0,socket-id=0", "dist,src=0,dst=1,val=21", "dist,src=1,dst=0,val=21"]
    assert values(argv, "-machine") == ["pc"]  # the nodes' memdevs make the RAM
    assert values(argv, "-m") == ["64M"]
    assert cfg.ram_files == (("ram-node0", 48), ("ram-node1", 16))


def test_without_numa_one_file_and_no_numa_option(kernel, tmp_path):
    cfg = QemuConfig(kernel=kernel, memory=64)
    argv = build_argv(cfg, tmp_path, "/usr/bin/qemu-system-i386")
    assert "-numa" not in argv
    assert values(argv, "-machine") == ["pc,memory-backend=ram"]
    assert cfg.ram_files == (("ram", 64),)


@pytest.mark.parametrize(("numa", "distances", "memory", "message"), [
    ((48, 16), (), 128, "adds up to 64 MiB"),
    ((64, 0), (), 64, "each a whole number"),
    ((8,) * 9, (), 72, "1 to 8 nodes"),
    ((32, 32), ((10, 21),), 64, "2x2 matrix"),
    ((32, 32), ((10, 21), (21, 11)), 64, r"numa_distances\[1\]\[1\]"),
    ((32, 32), ((10, 10), (21, 10)), 64, r"numa_distances\[0\]\[1\]"),
    ((), ((10,),), 64, "without numa"),
])
def test_bad_numa_configs_are_refused(kernel, numa, distances, memory, message):
    cfg = QemuConfig(kernel=kernel, memory=memory, numa=numa, numa_distances=distances)
    with pytest.raises(ConfigError, match=message):
        cfg.validate()


def make_files(tmp_path: Path, sizes_mib: list[int]) -> list[Path]:
    paths = []
    for i, mib in enumerate(sizes_mib):
        path = tmp_path / f"ram-node{i}"
        with open(path, "wb") as f:
            f.truncate(mib * MIB)
            f.write(bytes([0xA0 + i]) * 16)
        paths.append(path)
    return paths


def test_guest_ram_reads_and_writes_across_node_files(tmp_path):
    paths = make_files(tmp_path, [3, 1, 2])
    ram = GuestRam(paths, 6 * MIB)
    try:
        assert ram.read(3 * MIB, 2) == b"\xa1\xa1", "node 1 starts where node 0 ends"
        assert ram.read(4 * MIB, 1) == b"\xa2"
        assert ram.read(4 * MIB - 2, 4) == b"\0\0\xa2\xa2", "a read across two files"
        ram.write(3 * MIB - 2, b"wxyz")
        assert ram.read(3 * MIB - 3, 6) == b"\0wxyz\xa1"
        with pytest.raises(ValueError, match="outside mapped RAM"):
            ram.read(6 * MIB - 2, 4)
    finally:
        ram.close()
    assert paths[0].read_bytes()[-2:] == b"wx" and paths[1].read_bytes()[:2] == b"yz"


def test_guest_ram_refuses_files_that_do_not_add_up(tmp_path):
    with pytest.raises(ValueError, match="hold 0x300000 bytes"):
        GuestRam(make_files(tmp_path, [2, 1]), 4 * MIB)


def test_a_marker_without_memory_gets_the_nodes_sum(kernel):
    fields = {"memory": 64, "numa": [48, 16, 8]}  # 64: the command line's default
    numa_fields(fields, memory_given=False)
    assert fields == {"memory": 72, "numa": (48, 16, 8)}
    assert QemuConfig(kernel=kernel, **fields).memory_mib == 72


def test_a_marker_memory_that_disagrees_with_the_nodes_is_an_error(kernel):
    """memory="128M" with numa=[48, 16] is the test's mistake: never
    silently 64 MiB."""
    fields = {"memory": "128M", "numa": [48, 16]}
    numa_fields(fields, memory_given=True)
    assert fields["memory"] == "128M"
    with pytest.raises(ConfigError, match="adds up to 64 MiB"):
        QemuConfig(kernel=kernel, **fields).validate()


def test_distances_without_nodes_are_a_config_error_not_a_type_error(kernel):
    fields = {"memory": 64, "numa_distances": [[10, 21], [21, 10]]}
    numa_fields(fields, memory_given=False)
    assert fields["numa_distances"] == ((10, 21), (21, 10))
    hash(tuple(fields.items()))  # the pool hashes the config
    with pytest.raises(ConfigError, match="without numa"):
        QemuConfig(kernel=kernel, **fields).validate()
