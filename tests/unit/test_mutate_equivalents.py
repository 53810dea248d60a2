"""The reviewed list of equivalent firmware mutants stays true to the source:
every entry has a reason and still names a mutant the generator makes."""

from harness.mutate import equivalents
from harness.mutate.generate import mutants
from harness.mutate.sandbox import REPO, default_files


def test_every_reviewed_equivalent_names_a_live_mutant_and_gives_a_reason():
    entries = equivalents.load()
    assert entries, "the reviewed list is empty or missing"
    assert all(len(reason) > 20 for reason in entries.values())
    # The default files, and any other a reviewed entry names (a run given
    # --files such as firmware/kernel/tlb.c uses the same list).  An entry of
    # a file that is gone matches nothing and is stale.
    named = {REPO / signature.split(":", 1)[0] for signature in entries}
    files = {*default_files(), *(path for path in named if path.exists())}
    assert equivalents.stale(entries, mutants(files, REPO)) == []
