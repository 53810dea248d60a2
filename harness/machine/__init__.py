"""Layer 3, the machine: one QEMU + GDB + console (:mod:`.machine`), its
configuration (:mod:`.qemu`), calls, state, snapshots and the pool, QEMU's own
view as an oracle, failure artifacts, and ``expect_fault``.  It knows no
kernel symbol: what it needs to know about a kernel comes from a
:class:`~harness.machine.target.TargetProfile`."""
