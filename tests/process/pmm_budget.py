"""Running the kernel out of frames at an exact step: agent_pmm_exhaust takes
every free frame into a chain (each frame's first word links to the next);
give_back hands the first few back, so the call under test gets exactly as
far as the step it should fail at; agent_pmm_release frees the rest."""


def give_back(machine, count: int) -> None:
    """Free the ``count`` frames at the head of agent_pmm_exhaust's chain,
    unlinking them first so that agent_pmm_release does not free them again."""
    chain = machine.symbol("agent_pmm_chain")
    for _ in range(count):
        pa = machine.read_u32(chain)
        assert pa, "the chain is shorter than asked"
        machine.write_u32(chain, int.from_bytes(machine.read_phys(pa, 4), "little"))
        machine.call("agent_free_page", pa)
