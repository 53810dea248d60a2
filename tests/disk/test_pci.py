"""The PCI scan against QEMU's own view (QMP query-pci): one PCI record per
function, with its address, ids and class; and the IDE function's bus-master
BAR is assigned (QEMU shows an I/O region for BAR4)."""

import pytest

from harness.machine.disks import DiskSpec


@pytest.mark.machine(disks=[DiskSpec("hda", size="1M")])
def test_pci_records_are_qemus_functions(machine):
    qemu = sorted((d["bus"], d["slot"], d["function"], d["id"]["vendor"], d["id"]["device"],
                   d["class_info"]["class"])
                  for bus in machine.qemu.command("query-pci") for d in bus["devices"])
    records = []
    for r in machine.records("PCI"):
        bus, rest = r["bdf"].split(":")
        dev, fn = rest.split(".")
        records.append((int(bus, 16), int(dev, 16), int(fn), r.int("vendor"), r.int("device"),
                        r.int("class") >> 8))
    assert sorted(records) == qemu
    [ide] = [d for bus in machine.qemu.command("query-pci") for d in bus["devices"]
             if d["class_info"]["class"] == 0x0101]
    [bar4] = [region for region in ide["regions"] if region["bar"] == 4]
    assert (bar4["type"], bar4["size"]) == ("io", 16) and bar4["address"] != 0
