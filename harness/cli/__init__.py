"""Layer 5, tools: ``python -m harness bench|demo|debug|iso`` (and, beside this
folder, the pytest plugin and the ``mm`` GDB commands)."""
