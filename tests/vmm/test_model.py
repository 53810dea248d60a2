"""A hypothesis state machine of map/unmap/protect/switch over three page
directories, against a Python model; after every step the harness walker and
QEMU's info mem/info tlb must agree with the model, and a kernel read through
the touched address must see what the model says (a missing invlpg shows).

The pages include both sides of two page-table boundaries (the last slot of
one table, the first of the next) and a rule maps such a pair at once, so
every run has mappings that run across a table boundary, where the kernel
and the region merging of both walkers change tables; the test fails if a
run did not."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from harness.decode.paging import PRESENT, USER, WRITE
from harness.machine.oracle import info_mem_disagreements, walker_disagreements
from harness.pytest_plugin import machine_config
from harness.targets.mmverify.kernel import Kernel
from tests.expected import KERNEL_BASE

EFAULT, ENOENT, EEXIST = -14, -2, -17
# Page-table boundaries: 0x3FFFF000 | 0x40000000 and 0x403FF000 | 0x40400000.
TABLE_BOUNDARIES = [(0x3FFFF000, 0x40000000), (0x403FF000, 0x40400000)]
USER_PAGES = [0x3FFFF000] + [0x40000000 + i * 0x1000 for i in range(4)] + [
    0x403FF000, 0x40400000, 0x7FFFF000]
KERNEL_PAGES = [0xF0000000, 0xF0001000]  # shared by every directory
FLAGS = st.sampled_from([PRESENT, PRESENT | WRITE, PRESENT | USER, PRESENT | WRITE | USER])


@pytest.mark.machine(memory="32M")
def test_vmm_against_a_model(request, firmware, machine_pool):
    cfg = machine_config(request, firmware)
    reached: set[str] = set()

    class VmmModel(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            self.m = machine_pool.acquire(cfg)
            self.k = Kernel(self.m)
            self.dirs = [self.k.kernel_directory()] + [
                self.m.call("create_page_directory") for _ in range(2)]
            self.current = 0
            self.frames = []
            for i in range(6):
                f = self.m.call("allocate_page")
                self.m.write_phys(f, (0xF00D0000 + i).to_bytes(4, "little"))
                self.frames.append(f)
            self.user = [{} for _ in self.dirs]  # va -> (frame, flags), per directory
            self.kernel = {}                     # kernel half, shared

        def table(self, d, va):
            return self.kernel if va >= KERNEL_BASE else self.user[d]

        def check_access(self, d, va):
            """A kernel read through va, if d is the current directory."""
            if d != self.current:
                return
            rc = self.m.call("agent_probe_read_user", va)  # user pages too (SMAP)
            entry = self.table(d, va).get(va)
            if entry is None:
                assert rc == EFAULT, f"{va:#x} unmapped but readable: stale TLB entry?"
            else:
                assert rc == 0
                want = 0xF00D0000 + self.frames.index(entry[0])
                assert self.m.read_u32(self.m.symbol("agent_probe_value")) == want

        @rule(d=st.integers(0, 2), va=st.sampled_from(USER_PAGES + KERNEL_PAGES),
              frame=st.integers(0, 5), flags=FLAGS)
        def map(self, d, va, frame, flags):
            if va >= KERNEL_BASE:
                flags &= ~USER
            rc = self.m.call("vmm_map", self.dirs[d], va, self.frames[frame], flags)
            table = self.table(d, va)
            if va in table:
                assert rc == EEXIST
            else:
                assert rc == 0
                table[va] = (self.frames[frame], flags)
            self.check_access(d, va)

        @rule(d=st.integers(0, 2), pair=st.sampled_from(TABLE_BOUNDARIES),
              frame=st.integers(0, 4), flags=FLAGS)
        def map_across_a_table_boundary(self, d, pair, frame, flags):
            """The last page of one page table and the first of the next,
            with the same rights: one region in every map."""
            for i, va in enumerate(pair):
                self.map(d, va, frame + i, flags)
            if all(self.user[d].get(va, (0, 0))[1] == flags for va in pair):
                reached.add("mappings across a page-table boundary")

        @rule(d=st.integers(0, 2), va=st.sampled_from(USER_PAGES + KERNEL_PAGES))
        def unmap(self, d, va):
            rc = self.m.call("vmm_unmap", self.dirs[d], va, 0)
            table = self.table(d, va)
            assert rc == (0 if va in table else ENOENT)
            table.pop(va, None)
            self.check_access(d, va)

        @rule(d=st.integers(0, 2), va=st.sampled_from(USER_PAGES), flags=FLAGS)
        def protect(self, d, va, flags):
            rc = self.m.call("vmm_protect", self.dirs[d], va, flags)
            table = self.table(d, va)
            if va in table:
                assert rc == 0
                table[va] = (table[va][0], flags)
            else:
                assert rc == ENOENT
            self.check_access(d, va)

        @rule(d=st.integers(0, 2))
        def switch(self, d):
            self.m.call("switch_page_directory", self.dirs[d])
            self.current = d
            assert self.m.reg("cr3") == self.dirs[d] - KERNEL_BASE

        @invariant()
        def walker_matches_model_and_qemu(self):
            if not hasattr(self, "m"):
                return
            for d, directory in enumerate(self.dirs):
                aspace = self.m.address_space(directory - KERNEL_BASE)
                if d == self.current:
                    assert info_mem_disagreements(self.m, aspace) == []
                seen = {m.va: (m.pa, m.flags & (PRESENT | WRITE | USER))
                        for m in aspace.mappings(0, 0x80000000)}
                seen.update({m.va: (m.pa, m.flags & (PRESENT | WRITE | USER))
                             for m in aspace.mappings(0xF0000000, 0xF0002000)})
                want = {**self.user[d], **self.kernel}
                assert seen == want, f"directory {d}"

        def teardown(self):
            if hasattr(self, "m"):  # every page, once per example: info tlb is long
                assert walker_disagreements(self.m) == []

    VmmModel.TestCase.settings = settings(
        max_examples=15, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    VmmModel.TestCase().runTest()
    assert reached == {"mappings across a page-table boundary"}, "the strategies never got there"
