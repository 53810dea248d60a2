"""A failing test leaves its artifacts and shows where they are."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

from harness.targets.mmverify.build import REPO

FAILING_TEST = '''
def test_fails_after_touching_the_machine(machine):
    machine.call("agent_nop", 1)
    machine.write(machine.symbol("agent_scratch"), b"\\0")
    machine.call("agent_record_bytes", machine.symbol("agent_scratch"), 0)
    assert machine.reg("eax") == 0x12345678, "deliberate failure"
'''

USE_EXISTING_BUILD = '''
import os
from pathlib import Path
import pytest
from harness.targets.mmverify.build import Artifacts

@pytest.fixture(scope="session")
def firmware():
    return Artifacts(Path(os.environ["MMV_TEST_BUILD_DIR"]))
'''


def test_failure_writes_artifacts_and_junit(tmp_path, firmware):
    (tmp_path / "test_failing.py").write_text(FAILING_TEST)
    (tmp_path / "conftest.py").write_text(USE_EXISTING_BUILD)
    artifacts, junit = tmp_path / "artifacts", tmp_path / "junit.xml"
    env = dict(os.environ, MMV_TEST_BUILD_DIR=str(firmware.build_dir), PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), f"--artifacts={artifacts}", f"--junitxml={junit}",
         str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout
    report = result.stdout
    assert "deliberate failure" in report
    assert "artifacts: " in report and "--- serial (this test, tail) ---" in report
    assert "--- gdb/mi (tail) ---" in report and "--- registers ---" in report

    folder = artifacts / "test_failing__test_fails_after_touching_the_machine"
    files = {p.name for p in folder.iterdir()}
    assert {"serial.log", "gdb-mi.log", "registers.txt", "info-mem.txt", "info-tlb.txt",
            "qemu-argv.txt"} <= files
    assert "READY" in (folder / "serial-full.log").read_text()
    assert (folder / "records.log").read_text() == 'AGENT bytes="" len=0 text=""\n'
    assert "\nREADY\n" in (folder / "records-full.log").read_text()
    assert "agent_nop" in (folder / "gdb-mi.log").read_text()
    assert "cr3" in (folder / "registers.txt").read_text()

    case = ET.parse(junit).getroot().find(".//testcase")
    assert case is not None and case.find("failure") is not None
