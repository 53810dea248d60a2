"""Layer 1, pure decoding: x86 paging entries and walks, #PF error codes,
bitmaps, QEMU's ``info`` text, serial records, GDB/MI text, text tables.

No I/O and the standard library only, so GDB's own Python imports these for
the ``mm`` commands with nothing else installed."""
