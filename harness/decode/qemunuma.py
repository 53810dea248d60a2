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
"""

from __future__ import annotations

import re
from dataclasses import dataclass


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

