"""The names of the IDE disks (firmware/include/dev/blk.h): hda..hdd are
IDE index 0..3 (primary master, primary slave, secondary master, secondary
slave).  The harness's disks (machine/disks.py) and `mm swap`'s disk name
both use this one table."""

IDE_NAMES = ("hda", "hdb", "hdc", "hdd")
