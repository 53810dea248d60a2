"""The reviewed list of equivalent firmware mutants stays true to the source:
every entry has a reason and still names a mutant the generator makes."""

from harness.mutate import equivalents
from harness.mutate.generate import mutants
from harness.mutate.sandbox import REPO, default_files


def test_every_reviewed_equivalent_names_a_live_mutant_and_gives_a_reason():
    entries = equivalents.load()
    assert entries, "the reviewed list is empty or missing"
    assert all(len(reason) > 20 for reason in entries.values())
    assert equivalents.stale(entries, mutants(default_files(), REPO)) == []
