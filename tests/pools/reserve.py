"""Reading the kernel's pools from outside: pool_table, and a pool's reserve
as the chain of objects in guest RAM (each one's first word names the next)."""

KERNEL_BASE = 0xC0000000


def pools(kernel) -> dict:
    """The live pools by name, from pool_table."""
    count = kernel.u32("pool_count")
    table = kernel.read_array("pool", kernel.m.symbol("pool_table"), count)
    return {bytes(p["name"]).split(b"\0")[0].decode(): p for p in table}


def reserve_chain(kernel, pool) -> list[int]:
    """The reserve's objects (kernel addresses: frames in the direct map, read
    from guest RAM; heap objects through the page tables), in order."""
    chain, obj = [], pool["reserve"]
    while obj and len(chain) <= pool["min_objects"]:
        chain.append(obj)
        obj = int.from_bytes(kernel.read_kernel(obj, 4), "little")
    return chain
