"""QEMU's own view of the NUMA nodes: the text of the monitor's `info numa`.

QEMU 7.2 prints, for a machine with two nodes::

    2 nodes
    node 0 cpus: 0
    node 0 size: 48 MB
    node 0 plugged: 0 MB
    node 1 cpus:
    node 1 size: 16 MB
    node 1 plugged: 0 MB

("0 nodes" without -numa; 7.2 prints no distances).  A test holds the
kernel's zones against this (pure: no I/O).

Where the pc machine puts RAM, nodes or not: below 4 GiB up to its limit,
the rest at 4 GiB.  With -numa the nodes are laid one after another in that
RAM, then it is split, so a node may straddle the hole (node_ranges).  The
transport (RAM files), the bench and the tests all take the layout from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FOUR_GIB = 1 << 32
# QEMU's pc (i440FX) machine keeps at most this much RAM below 4 GiB when the
# guest has 3.5 GiB or more; the rest is placed at 4 GiB (reachable only with PAE).
PC_BELOW_4G_LIMIT = 0xC0000000
PC_SPLIT_THRESHOLD = 0xE0000000
MIB = 1 << 20


def ram_below_4g(ram_bytes: int) -> int:
    """How much of the pc machine's RAM QEMU places below 4 GiB."""
    return PC_BELOW_4G_LIMIT if ram_bytes >= PC_SPLIT_THRESHOLD else ram_bytes


def ram_ranges(ram_bytes: int) -> list[tuple[int, int]]:
    """Every guest-physical RAM range [start, end) of a pc machine with
    ``ram_bytes`` of RAM: below 4 GiB, and above 4 GiB when RAM is split."""
    below = ram_below_4g(ram_bytes)
    ranges = [(0, below)]
    if ram_bytes > below:
        ranges.append((FOUR_GIB, FOUR_GIB + ram_bytes - below))
    return ranges


def node_ranges(sizes_mib: list[int] | tuple[int, ...]) -> list[list[tuple[int, int]]]:
    """Each node's guest-physical RAM ranges [start, end), node by node, for
    nodes of ``sizes_mib`` MiB: laid one after another, then split where
    RAM leaves off below 4 GiB (a node across the split gets two ranges).
    Raw RAM: the 640 KiB - 1 MiB hole the SRAT leaves out is not cut."""
    below = ram_below_4g(sum(sizes_mib) * MIB)
    out, at = [], 0
    for mib in sizes_mib:
        start, end = at, at + mib * MIB
        ranges = []
        if start < below:
            ranges.append((start, min(end, below)))
        if end > below:
            high = max(start, below)
            ranges.append((FOUR_GIB + high - below, FOUR_GIB + end - below))
        out.append(ranges)
        at = end
    return out


@dataclass(frozen=True)
class QemuNode:
    node: int
    cpus: tuple[int, ...]
    mib: int


def parse_info_numa(text: str) -> list[QemuNode]:
    """The nodes `info numa` lists, in node order.  Raises ValueError when
    the text does not say how many nodes there are, or a node lacks its
    size or CPU line."""
    m = re.search(r"^(\d+) nodes\s*$", text, re.MULTILINE)
    if not m:
        raise ValueError(f"`info numa` output without a node count: {text!r}")
    nodes = []
    for i in range(int(m.group(1))):
        cpus = re.search(rf"^node {i} cpus:(.*)$", text, re.MULTILINE)
        size = re.search(rf"^node {i} size: (\d+) MB\s*$", text, re.MULTILINE)
        if not cpus or not size:
            raise ValueError(f"`info numa` output lacks node {i}'s cpus or size: {text!r}")
        nodes.append(QemuNode(i, tuple(int(c) for c in cpus.group(1).split()),
                              int(size.group(1))))
    return nodes

