"""Target profiles: what the harness needs to know about a kernel it boots."""
