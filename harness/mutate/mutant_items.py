"""The items of a mutation run: ``test_mutant[ID]`` for every mutant in
``--mutants-file`` (collected only when a mutation run names this file; see
harness/mutate/run_plugin.py)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.mutate.generate import Mutant, find, mutants
from harness.mutate.results import RunResults
from harness.mutate.run_plugin import worker_dir
from harness.mutate.runner import MutantRunner
from harness.mutate.sandbox import REPO
from harness.mutate.testmap import TestMap


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mutant_id" in metafunc.fixturenames:
        ids = json.loads(Path(metafunc.config.getoption("--mutants-file")).read_text())
        metafunc.parametrize("mutant_id", ids, ids=ids)


@pytest.fixture(scope="session")
def runner(request: pytest.FixtureRequest) -> MutantRunner:
    work = Path(request.config.getoption("--mutate-work"))
    runner = MutantRunner(TestMap.load(work / "testmap.json"), worker_dir(request.config),
                          work / "pristine",
                          budget_factor=request.config.getoption("--budget-factor"),
                          rest=request.config.getoption("--rest"))
    if (work / "results.json").is_file():  # the last run's kills order this run's tests
        runner.learn(RunResults.load(work / "results.json").mutants)
    return runner


@pytest.fixture(scope="session")
def all_mutants() -> dict[str, list[Mutant]]:
    return {}  # file -> its mutants, parsed once per worker


def _mutant(cache: dict[str, list[Mutant]], mutant_id: str) -> Mutant:
    file = mutant_id.split(":", 1)[0]
    if file not in cache:
        cache[file] = mutants([REPO / file], REPO)
    return find(cache[file], mutant_id)


def test_mutant(mutant_id: str, runner: MutantRunner, all_mutants: dict[str, list[Mutant]],
                record_property: Callable[[str, object], None]) -> None:
    result = runner.run(_mutant(all_mutants, mutant_id))
    record_property("mutant", json.dumps(dataclasses.asdict(result)))
    if result.status == "survived":
        pytest.fail(f"survived{'' if result.covered else ' (no test reaches it)'}: "
                    f"{result.description}\n{result.diff}", pytrace=False)
