"""The coverage image and the test map measured from it: a real build with
-DMMV_COVERAGE=ON, and a real test run on it whose machines' bitmaps name the
functions the test ran (the map a mutation run orders its tests by)."""

import json
import subprocess
import sys

import pytest

from harness.mutate.coverage import function_index
from harness.targets.mmverify.build import REPO, build

TEST = "tests/pmm/test_allocation.py::test_free_returns_the_frame_and_the_counters"


@pytest.fixture(scope="module")
def coverage_build(tmp_path_factory):
    return build(tmp_path_factory.mktemp("cov") / "build", options={"MMV_COVERAGE": "ON"})


def test_the_index_names_every_function_and_gccs_clones_as_their_function(coverage_build):
    index = function_index(coverage_build.kernel)
    assert {"pmm.c:summary_clear_full", "allocate_page", "kmain"} <= index.keys
    # proc_kill_if_pending.part.0 and the like are the function they came from
    assert not [k for k in index.keys if "." in k.split(":")[-1]]


def test_a_tests_map_entry_holds_the_functions_its_machine_ran(coverage_build, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p",
         "harness.mutate.testmap_plugin", "--testmap-out", str(tmp_path / "out"),
         "--build-dir", str(coverage_build.build_dir), "--artifacts", str(tmp_path / "a"), TEST],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = (tmp_path / "out" / "main.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert entry["outcome"] == "passed" and entry["seconds"] > 0
    functions = set(entry["functions"])
    assert {"kmain", "allocate_page", "free_page"} <= functions  # the boot's and the test's
    assert "sys_write" not in functions  # no process ran
