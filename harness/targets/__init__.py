"""Layer 4, target knowledge: a profile per kernel the harness can boot and
watch (``mmverify``, this repository's firmware, and ``linux``), each with what
it knows beyond the profile (this firmware's structs, processes, layouts)."""
