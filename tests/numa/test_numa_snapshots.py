"""savevm/loadvm on a NUMA machine: a restore puts back every node's RAM
file, so NUMA tests start from kernel_ready like any other."""

import pytest

from harness.machine.pool import READY_SNAPSHOT

MIB = 1 << 20


@pytest.mark.machine(numa=[48, 16])
def test_a_restore_puts_back_every_nodes_ram(machine):
    places = [40 * MIB, 60 * MIB]  # free frames in node 0 and node 1 at kernel_ready
    before = [machine.read_phys(pa, 16) for pa in places]
    for pa in places:
        machine.write_phys(pa, b"scribbled-on-it!")
    assert [machine.ram.read(pa, 16) for pa in places] == [b"scribbled-on-it!"] * 2
    machine.restore_snapshot(READY_SNAPSHOT)
    assert [machine.read_phys(pa, 16) for pa in places] == before
    assert (machine.run_dir / "ram-node1").stat().st_size == 16 * MIB
