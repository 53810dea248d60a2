"""`make demo` is the first thing a new user runs: it must keep working, and
every fact it reports as "ok" is checked against the machine."""

from harness.cli import demo


def test_demo_tour_checks_every_fact(firmware, capsys):
    assert demo.tour(firmware, demo.Style(colour=False))
    out = capsys.readouterr().out
    for title in ("physical memory", "the kernel's address space", "faults caught",
                  "shared memory", "kernel heap", "summary"):
        assert f"== {title}" in out
    assert "FAIL" not in out
    assert out.count("  ok    ") == 5
