"""Reading a QEMU command line in the unit tests."""


def values(argv: list[str], option: str) -> list[str]:
    """Every value given to ``option`` (``-numa``, ``-smp``), in order."""
    return [argv[i + 1] for i, a in enumerate(argv) if a == option]
