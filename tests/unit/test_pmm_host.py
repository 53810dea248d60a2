"""The firmware's own mm/pmm.c, mm/buddy.c and mm/frame.c, compiled for the
host (firmware/tests/host), against a model that knows only which frames are
used: after every operation the bitmap, its summaries, the hint word, every
buddy map and summary bit, the front, the node counters, each result and each
refusal are compared.  Each seed is a machine of its own (RAM size, holes,
NUMA node boundaries inside and on words, RAM across the direct-map limit
and above 4 GiB), so this reaches layouts no QEMU test boots, in seconds."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = ROOT / "firmware" / "tests" / "host"
SEEDS, OPS = 15, 1000


def test_the_pmm_and_its_buddy_maps_equal_a_bitmap_model_after_every_operation(tmp_path):
    subprocess.run(["make", "-s", "-C", str(HOST), f"OUT={tmp_path}", f"{tmp_path}/buddy_test"],
                   check=True, capture_output=True, text=True)
    run = subprocess.run([str(tmp_path / "buddy_test"), str(SEEDS), str(OPS)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stdout.splitlines()[-1].startswith(f"ok: {SEEDS} seeds"), run.stdout[-500:]
