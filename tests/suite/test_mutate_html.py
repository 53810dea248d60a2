"""The mutation report's HTML, judged from the DOM headless Chromium builds of
it: the marked lines and their statuses, the scores, the survivors' diffs
(escaped: a diff holds C's < and &), and the links between the pages."""

import contextlib
import difflib
import os
import shutil
import signal
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse
from urllib.request import url2pathname

import pytest

from harness.mutate.report_html import write_html
from harness.mutate.results import MutantResult, RunResults

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make deps installs Debian's chromium)")

LIST_C = """\
/* a <b>bold</b> & <script>var x;</script>: a comment the page must show as text */
int f(int a, int b)
{
    if (a < b && b > 0)
        return 1;
    a += b;
    return a & 0x3;
}

int g(int x)
{
    x = x * 2;
    return x << 1;
}
"""
BITS_C = "int h(int x)\n{\n    return x | 4;\n}\n"


def mutant(mid: str, line: int, status: str, file: str = "src/list.c", function: str = "f",
           before: str = "", after: str = "", **kw) -> MutantResult:
    """A result whose diff really changes ``before`` to ``after`` on ``line``."""
    source = (LIST_C if file == "src/list.c" else BITS_C).splitlines(keepends=True)
    mutated = list(source)
    if before:
        assert before in mutated[line - 1]
        mutated[line - 1] = mutated[line - 1].replace(before, after, 1)
    diff = "".join(difflib.unified_diff(source, mutated, f"a/{file}", f"b/{file}"))
    return MutantResult(id=f"{file}:{line}:5:{mid}", file=file, function=function, line=line,
                        col=5, operator=mid.split(":")[0], description=f"{before} -> {after}",
                        diff=diff, status=status, **kw)


SURVIVOR = mutant("ror:0", 4, "survived", before="a < b", after="a <= b", tests_run=12)
UNCOVERED = mutant("aor:0", 13, "survived", function="g", before="<<", after=">>",
                   covered=False)
RUN = RunResults(seconds=4.5, commit="0123abc", mutants=[
    mutant("ror:1", 4, "killed", before="a < b", after="a >= b",
           killed_by="tests/pmm/test_model.py::test_lowest_frame"),
    SURVIVOR,
    mutant("return-del:0", 5, "timeout", before="return 1;", after="",
           detail="no verdict in 120 s"),
    mutant("stmt-del:0", 6, "killed", before="a += b;", after="",
           killed_by="tests/heap/test_api.py::test_sum"),
    mutant("aor:0", 6, "stillborn", before="+=", after="-=", detail="error: expected ';'"),
    mutant("bit-drop:0", 7, "equivalent", before="a & 0x3", after="a",
           detail="callers mask the result again"),
    mutant("const:0", 7, "stillborn", before="0x3", after="0x4"),
    mutant("const:0", 12, "stillborn", function="g", before="2", after="3"),
    UNCOVERED,
    mutant("bit-drop:0", 3, "killed", file="src/util/bits.c", function="h", before="x | 4",
           after="x", killed_by="tests/vmm/test_tlb.py::test_flags"),
])
MARKS = {4: "survived", 5: "killed", 6: "killed", 7: "equivalent", 12: "stillborn",
         13: "not-covered"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: "Node | None") -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def elements(self) -> list["Node"]:
        return [c for c in self.children if isinstance(c, Node)]

    def find(self, tag: str, **attrs: str) -> list["Node"]:
        """Every element under this one with the tag and these attribute values
        (``class_`` matches one of the element's classes)."""
        out = []
        for c in self.elements():
            want = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
            classes = c.attrs.get("class", "").split()
            if c.tag == tag and all(v in classes if k == "class" else c.attrs.get(k) == v
                                    for k, v in want.items()):
                out.append(c)
            out += c.find(tag, **attrs)
        return out

    def one(self, tag: str, **attrs: str) -> "Node":
        [found] = self.find(tag, **attrs)
        return found


class DomReader(HTMLParser):
    """Chromium's serialized DOM as a tree: it closes every element but the void ones."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.at = Node("#document", {}, None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.at)
        self.at.children.append(node)
        if tag not in self.VOID:
            self.at = node

    def handle_endtag(self, tag: str) -> None:
        assert self.at.tag == tag, f"</{tag}> closes <{self.at.tag}>"
        assert self.at.parent is not None
        self.at = self.at.parent

    def handle_data(self, data: str) -> None:
        self.at.children.append(data)


def chromium_processes(profile: Path) -> list[int]:
    """Processes of the Chromium that uses this profile (its argv names it)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if str(profile).encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
    return pids


@pytest.fixture
def dom(tmp_path):
    """Load a URL in headless Chromium and return the DOM it built; no Chromium
    process may outlive the test."""
    profile = tmp_path / "chromium-profile"

    def load(url: str) -> Node:
        assert CHROMIUM is not None
        # Root has no sandbox; the private profile keeps runs apart and
        # lets the processes be found by it.
        proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={profile}", "--dump-dom", url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"chromium did not load {url} within 60 s")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its helpers, in its session
            proc.communicate()
        assert proc.returncode == 0, f"chromium exited {proc.returncode}: {err[-2000:]}"
        reader = DomReader()
        reader.feed(out)
        reader.close()
        return reader.root

    yield load
    deadline = time.monotonic() + 5
    while chromium_processes(profile) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = chromium_processes(profile)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"chromium processes left behind: {left}"


@pytest.fixture
def report(tmp_path):
    root = tmp_path / "repo"
    (root / "src" / "util").mkdir(parents=True)
    (root / "src" / "list.c").write_text(LIST_C)
    (root / "src" / "util" / "bits.c").write_text(BITS_C)
    return write_html(RUN, tmp_path / "report", root=root)


def follow(base: str, href: str) -> tuple[str, str]:
    """The page a link points to (it must exist) and its fragment."""
    url, fragment = urldefrag(urljoin(base, href))
    assert Path(url2pathname(urlparse(url).path)).is_file(), f"{href} leads nowhere"
    return url, fragment


def test_each_line_is_marked_by_its_worst_mutant(report, dom):
    page = dom((report.parent / "src_list.c.html").as_uri())
    lines = page.find("tr", class_="line")
    assert [r.one("td", class_="n").text() for r in lines] == [str(n) for n in range(1, 15)]
    assert [r.one("pre").text() for r in lines] == LIST_C.splitlines()
    assert {int(r.attrs["data-line"]): r.attrs["data-status"]
            for r in lines if "data-status" in r.attrs} == MARKS
    listed = {int(r.attrs["data-line"]): [(li.attrs["data-id"], li.attrs["data-mutant-status"])
                                          for li in r.find("li", class_="mutant")]
              for r in page.find("tr", class_="mutants")}
    expected: dict[int, list[tuple[str, str]]] = {}
    for m in RUN.mutants:
        if m.file == "src/list.c":
            status = "not-covered" if m is UNCOVERED else m.status
            expected.setdefault(m.line, []).append((m.id, status))
    assert listed == {line: sorted(ms) for line, ms in expected.items()}  # by column, then id
    assert page.one("p", class_="summary").text() == (
        "score 0.600: 9 mutants, 3 killed (1 by timeout), 2 survived, 3 stillborn, "
        "1 equivalent")
    killed = page.one("li", data_id="src/list.c:4:5:ror:1").text()
    assert "killed by tests/pmm/test_model.py::test_lowest_frame" in killed
    timeout = page.one("li", data_id="src/list.c:5:5:return-del:0").text()
    assert "no verdict in 120 s" in timeout


def test_survivors_diffs_are_there_and_escaped(report, dom):
    page = dom((report.parent / "src_list.c.html").as_uri())
    assert not page.find("script"), "the source's <script> became an element"
    assert "a <b>bold</b> & <script>var x;</script>:" in page.one("tr", id="L1").text()
    assert "<" in SURVIVOR.diff and "&" in SURVIVOR.diff and "<" in UNCOVERED.diff
    for survivor in (SURVIVOR, UNCOVERED):
        diff = page.one("li", data_id=survivor.id).one("pre", class_="diff")
        assert diff.elements() == [] and diff.text() == survivor.diff
    # Only survivors carry a diff.
    assert len(page.find("pre", class_="diff")) == 2
    assert "not covered" in page.one("li", data_id=UNCOVERED.id).one("b").text()


def test_the_index_scores_files_and_functions_and_links_to_their_lines(report, dom):
    index_url = report.as_uri()
    index = dom(index_url)
    assert index.one("p", class_="summary").text() == (
        "score 0.667: 10 mutants, 4 killed (1 by timeout), 2 survived, 3 stillborn, "
        "1 equivalent, 4.5 s")
    files = index.one("table", data_table="file")
    scores = {r.attrs["data-name"]: (r.one("td", class_="mutants").text(),
                                     r.one("td", class_="score").text())
              for r in files.find("tr") if "data-name" in r.attrs}
    assert scores == {"src/list.c": ("9", "0.600"), "src/util/bits.c": ("1", "1.000")}
    functions = index.one("table", data_table="function")
    assert {r.attrs["data-name"]: r.one("td", class_="score").text()
            for r in functions.find("tr") if "data-name" in r.attrs} == {
        "src/list.c:f": "0.750", "src/list.c:g": "0.000", "src/util/bits.c:h": "1.000"}

    for row in files.find("tr"):
        if "data-name" in row.attrs:
            url, _ = follow(index_url, row.one("a").attrs["href"])
            page = dom(url)
            assert page.one("h1").text() == row.attrs["data-name"]
            back, _ = follow(url, page.one("a").attrs["href"])
            assert back == index_url
    targets = {r.attrs["data-name"]: follow(index_url, r.one("a").attrs["href"])
               for r in functions.find("tr") if "data-name" in r.attrs}
    assert {name: (Path(urlparse(url).path).name, fragment)
            for name, (url, fragment) in targets.items()} == {
        "src/list.c:f": ("src_list.c.html", "L4"), "src/list.c:g": ("src_list.c.html", "L12"),
        "src/util/bits.c:h": ("src_util_bits.c.html", "L3")}
    page = dom(targets["src/list.c:g"][0])
    assert page.one("tr", id="L12").attrs["data-status"] == "stillborn"

    survivors = index.one("ul", class_="survivors").find("li")
    assert [(li.attrs["data-id"], follow(index_url, li.one("a").attrs["href"])[1], li.text())
            for li in survivors] == [
        (SURVIVOR.id, "L4", f"{SURVIVOR.id} f: a < b -> a <= b"),
        (UNCOVERED.id, "L13", f"{UNCOVERED.id} g: << -> >> (not covered)")]
