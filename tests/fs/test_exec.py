"""Programs run from the file system (a name starting with "/"), spawned
and exec'd: the kernel's SPAWN/EXEC/EXIT records, what the program wrote,
and its image's pages read through the page cache."""

import pytest

from tests.fs.conftest import PROGRAMS_DISK
from tests.fs.files import PAGE

pytestmark = pytest.mark.machine(disks=[PROGRAMS_DISK], cmdline="aslr=off")


def test_spawn_runs_a_program_from_the_file_system(machine, userland, kernel, programs_image):
    pid = userland.spawn("/bin/hello", "7")
    [spawned] = machine.records("SPAWN", since=userland.start)
    assert (spawned.int("pid"), spawned["name"]) == (pid, "/bin/hello")
    result = userland.run()[pid]
    assert (result.status, result.killed) == (7, False)
    assert userland.output(pid) == f"USER prog=hello pid={pid} argc=2\n".encode()
    # the whole image came through the page cache, one entry a page
    ino = next(f["ino"] for f in kernel.fs_files() if f["path"] == "bin/hello")
    size = len(programs_image["/bin/hello"])
    cached = {e["index"]: e["pfn"] for e in kernel.page_cache() if e["ino"] == ino}
    assert sorted(cached) == list(range((size + PAGE - 1) // PAGE))
    for index, pfn in cached.items():
        chunk = programs_image["/bin/hello"][index * PAGE:(index + 1) * PAGE]
        assert machine.read_phys(pfn << 12, len(chunk)) == chunk


def test_exec_replaces_a_program_with_one_from_the_file_system(machine, userland):
    pid = userland.spawn("/bin/execer", "/bin/hello 5")
    result = userland.run()[pid]
    [execd] = machine.records("EXEC", since=userland.start)
    assert (execd.int("pid"), execd["name"]) == (pid, "/bin/hello")
    assert (result.status, result.name) == (5, "/bin/hello")
    assert userland.output(pid) == f"USER prog=hello pid={pid} argc=2\n".encode()


@pytest.mark.parametrize(("name", "errno"), [("/bin/nothing", 2), ("/hello.txt", 22),
                                             ("/" + "x" * 30, 2)])
def test_what_cannot_run_is_refused(machine, userland, name, errno):
    with pytest.raises(RuntimeError, match=f"failed: -{errno}$"):
        userland.spawn(name)
    assert machine.records("SPAWN", since=userland.start) == []


def test_a_failed_exec_leaves_the_caller_running(machine, userland):
    pid = userland.spawn("/bin/execer", "/hello.txt")
    result = userland.run()[pid]
    assert result.status == 3 and machine.records("EXEC", since=userland.start) == []
    assert f"USER prog=execer pid={pid} name=/hello.txt rc=-22".encode() in userland.output(pid)
