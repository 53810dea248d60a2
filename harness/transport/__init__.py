"""Layer 2, transports: the GDB/MI client, the serial console and the record
channel, the guest-RAM file, and the lifetime of child processes (QEMU, GDB)
and their run directories.  Imports only harness.decode and the base modules
(harness.errors, harness.timeouts)."""
