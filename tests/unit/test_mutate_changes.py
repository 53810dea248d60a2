"""--diff BASE against a real git repository: the functions whose lines a
change touched, a new file whole, and an unknown BASE refused."""

import subprocess

import pytest

from harness.errors import ConfigError
from harness.mutate.changes import functions_changed_since

BEFORE = """int one(int a)
{
    return a + 1;
}

int two(int b)
{
    return b * 2;
}

int three(int c)
{
    return c - 3;
}
"""


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "a.c").write_text(BEFORE)
    git(tmp_path, "add", "a.c")
    git(tmp_path, "commit", "-qm", "base")
    return tmp_path


def test_only_the_functions_a_change_touched(repo):
    (repo / "a.c").write_text(BEFORE.replace("b * 2", "b * 3").replace("    return c - 3;\n", ""))
    assert functions_changed_since("HEAD", [repo / "a.c"], repo) == {"a.c": {"two", "three"}}


def test_an_unchanged_file_is_left_out_and_a_new_one_is_whole(repo):
    (repo / "b.c").write_text("int four(void) { return 4; }\nint five(void) { return 5; }\n")
    assert functions_changed_since("HEAD", [repo / "a.c", repo / "b.c"], repo) == {
        "b.c": {"four", "five"}}


def test_an_unknown_base_is_refused(repo):
    with pytest.raises(ConfigError, match="--diff nosuchbranch: git knows no such commit"):
        functions_changed_since("nosuchbranch", [repo / "a.c"], repo)
