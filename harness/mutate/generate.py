"""Mutants of C source, generated from tree-sitter's syntax tree.

Every mutant is one edit of one file: a byte span of the original replaced by
other bytes.  The span always covers syntax (an operator token, a literal, an
expression, a statement), never a comment or a string literal's text, since
only nodes of the syntax tree are candidates and nothing in a comment or a
string is a node of those kinds.  Only code inside function bodies is mutated,
so every mutant names its function; preprocessor lines (``#define`` bodies) are
text to the parser and are left alone.

The list for a file is in source order, then by operator, then by index; the
id ``FILE:LINE:COL:OPERATOR:INDEX`` (FILE relative to the repository, LINE and
COL 1-based, INDEX numbering the mutants of one operator at one place) is the
same on every run for the same source and grammar.
"""

from __future__ import annotations

import difflib
import itertools
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

# Operators, in the order they are listed at one place.
OPERATORS = {
    "ror": "relational operator: the boundary moved (< to <=) or the test negated (== to !=)",
    "aor": "arithmetic operator swapped (+ -, * /, << >>, and their compound assignments)",
    "const": "integer literal off by one (n+1, n-1)",
    "stmt-del": "expression statement deleted (a store, a counter update, a call)",
    "return-del": "early return inside an if (or else) deleted",
    "bit-drop": "one side of a | or & kept, the other dropped",
    "bit-add": "a flag of the same family (PAGE_USER to PAGE_WRITE) or-ed into a | or |=",
    "arg-swap": "two adjacent call arguments of the same apparent kind swapped",
}

_ROR = {"<": ("<=", ">="), "<=": ("<", ">"), ">": (">=", "<="), ">=": (">", "<"),
        "==": ("!=",), "!=": ("==",)}
_AOR = {"+": ("-",), "-": ("+",), "*": ("/",), "/": ("*",), "<<": (">>",), ">>": ("<<",),
        "+=": ("-=",), "-=": ("+=",), "*=": ("/=",), "/=": ("*=",),
        "<<=": (">>=",), ">>=": ("<<=",)}
_U32_MAX = 0xFFFFFFFF


@cache
def _parser() -> Parser:
    try:
        import tree_sitter
        import tree_sitter_c
    except ImportError as e:
        raise ImportError("mutation testing needs tree-sitter and tree-sitter-c: "
                          "pip install -e '.[mutate]'") from e
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_c.language()))


@dataclass(frozen=True)
class Source:
    """One C file: its path as ids name it, and its bytes."""

    path: str
    text: bytes


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    function: str
    line: int
    col: int
    operator: str
    index: int
    description: str
    start: int  # byte span of the original replaced by `replacement`
    end: int
    replacement: bytes
    source: Source = field(repr=False, compare=False)

    def mutated(self) -> bytes:
        """The whole mutated file."""
        t = self.source.text
        return t[:self.start] + self.replacement + t[self.end:]

    def diff(self) -> str:
        """A unified diff of the original against the mutated file (``patch -p1``
        applies it from the repository's root)."""
        before = self.source.text.decode("utf-8", "replace").splitlines(keepends=True)
        after = self.mutated().decode("utf-8", "replace").splitlines(keepends=True)
        return "".join(difflib.unified_diff(before, after, f"a/{self.file}", f"b/{self.file}"))

    def signature(self) -> str:
        """The mutant without its line number: file, function, operator, and the
        source line it changes before and after.  The reviewed equivalents are
        kept by signature, so an edit elsewhere in the file does not make an
        entry stale, and a change to that line does (it needs a new review)."""
        t = self.source.text
        first = t.rfind(b"\n", 0, self.start) + 1
        end = t.find(b"\n", self.start)
        end = len(t) if end < 0 else end
        after = self.mutated()
        end_after = after.find(b"\n", first)
        end_after = len(after) if end_after < 0 else end_after
        before_line = " ".join(t[first:end].decode("utf-8", "replace").split())
        after_line = " ".join(after[first:end_after].decode("utf-8", "replace").split())
        return f"{self.file}:{self.function}:{self.operator}: {before_line} => {after_line}"

    def summary(self) -> dict[str, object]:
        """Everything but the source, as JSON takes it."""
        return {"id": self.id, "file": self.file, "function": self.function,
                "line": self.line, "col": self.col, "operator": self.operator,
                "index": self.index, "description": self.description}


def _bytes(node: Node | None) -> bytes:
    return node.text or b"" if node is not None else b""


def _text(node: Node | None) -> str:
    return _bytes(node).decode("utf-8", "replace")


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _function_name(fn: Node) -> str:
    node = fn.child_by_field_name("declarator")
    while node is not None and node.type != "function_declarator":
        node = node.child_by_field_name("declarator")
    name = node.child_by_field_name("declarator") if node is not None else None
    return _text(name) if name is not None else "?"


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


@dataclass
class _Edit:
    node_point: tuple[int, int]  # (row, column), 0-based, of what the mutant changes
    operator: str
    description: str
    start: int
    end: int
    replacement: bytes


def _literal_variants(text: str) -> list[tuple[str, str]]:
    """n+1 and n-1 of a C integer literal, in its own base and with its suffix."""
    body = text.rstrip("uUlL")
    suffix = text[len(body):]
    low = body.lower()
    try:
        if low.startswith("0x"):
            digits = body[2:]
            spec = f"0{len(digits)}" + ("X" if any(c in "ABCDEF" for c in digits) else "x")
            value, fmt = int(digits, 16), (lambda v: body[:2] + format(v, spec))
        elif low.startswith("0b"):
            value, fmt = int(body[2:], 2), (lambda v: body[:2] + format(v, "b"))
        elif len(body) > 1 and body.startswith("0"):
            value, fmt = int(body, 8), (lambda v: "0" + format(v, "o"))
        else:
            value, fmt = int(body, 10), str
    except ValueError:  # a float, or a literal with digit separators
        return []
    out = []
    for delta, name in ((1, "+1"), (-1, "-1")):
        v = value + delta
        if -(2**31) <= v <= _U32_MAX and (v >= 0 or body.startswith("-")):
            out.append((fmt(v) + suffix, name))
    return out


def _statement_removal(src: bytes, node: Node) -> tuple[int, int, bytes]:
    """The span and replacement that delete a statement: its whole line when
    it is alone on it, else the statement; as the body of an if/for/while/else
    an empty block instead (``if (c) ;`` trips -Wempty-body)."""
    start, end = node.start_byte, node.end_byte
    if node.parent is None or node.parent.type not in ("compound_statement", "case_statement"):
        return start, end, b"{}"
    line_start = src.rfind(b"\n", 0, start) + 1
    line_end = src.find(b"\n", end)
    line_end = len(src) if line_end < 0 else line_end
    if not src[line_start:start].strip() and not src[end:line_end].strip():
        return line_start, min(line_end + 1, len(src)), b""
    return start, end, b""


def _arg_kind(node: Node) -> str:
    """What an argument apparently is: swapping two of one kind is a mistake
    that compiles (two sizes, two addresses), which is the interesting kind."""
    t = node.type
    if t in ("number_literal", "char_literal"):
        return "number"
    if t in ("string_literal", "concatenated_string"):
        return "string"
    if t == "pointer_expression" and _text(node).startswith("&"):
        return "address"
    if t == "cast_expression":
        return "cast " + " ".join(_text(node.child_by_field_name("type")).split())
    if t in ("true", "false"):
        return "bool"
    if t == "sizeof_expression":
        return "size"
    if t in ("identifier", "field_expression", "subscript_expression", "pointer_expression"):
        return "value"  # a variable, a member, an element, a dereference
    return "expression"  # arithmetic, a call, a conditional...


def _contains_comment(node: Node) -> bool:
    return any(n.type == "comment" for n in _walk(node))


_FLAG = re.compile(r"[A-Z][A-Z0-9]*_[A-Z0-9_]+")  # PAGE_USER, EFLAGS_IF: a family, a bit
# What `| FLAG` can follow without changing how the rest parses.
_OR_SAFE = ("binary_expression", "identifier", "call_expression", "parenthesized_expression",
            "number_literal", "field_expression")


def _is_or(node: Node | None) -> bool:
    return (node is not None and node.type == "binary_expression"
            and _text(node.child_by_field_name("operator")) == "|")


def _or_operands(node: Node) -> list[Node]:
    if _is_or(node):
        return [*_or_operands(node.child_by_field_name("left")),  # type: ignore[arg-type]
                *_or_operands(node.child_by_field_name("right"))]  # type: ignore[arg-type]
    return [node]


def _or_site(node: Node) -> Node | None:
    """The expression flags are or-ed into at ``node``: a whole ``a | b | c``
    (not its inner ``a | b``), or the right side of ``x |= ...``."""
    if _is_or(node) and not _is_or(node.parent):
        return node
    if node.type == "assignment_expression" \
            and _text(node.child_by_field_name("operator")) == "|=":
        right = node.child_by_field_name("right")
        if right is not None and right.type in _OR_SAFE and not _is_or(right):
            return right  # a | chain on the right is a site of its own
    return None


def flag_names(root: Node) -> list[str]:
    """The flags a file ors together (PAGE_WRITE in ``PAGE_PRESENT | PAGE_WRITE``
    or ``e |= PAGE_WRITE``): what ``bit-add`` may add, sorted."""
    out = set()
    for n in _walk(root):
        site = _or_site(n)
        for leaf in _or_operands(site) if site is not None else ():
            if leaf.type == "identifier" and _FLAG.fullmatch(_text(leaf)):
                out.add(_text(leaf))
    return sorted(out)


def _family(flag: str) -> str:
    return flag.split("_", 1)[0]


def _bit_adds(node: Node, flags: Sequence[str]) -> Iterator[_Edit]:
    site = _or_site(node)
    if site is None or _contains_comment(site):
        return
    present = {_text(leaf) for leaf in _or_operands(site)}
    families = {_family(f) for f in present if _FLAG.fullmatch(f)}
    for flag in flags:
        if _family(flag) in families and flag not in present:
            yield _Edit(site.start_point, "bit-add",
                        f"`{_short(_text(site), 40)}` -> `... | {flag}` (adds `{flag}`)",
                        site.end_byte, site.end_byte, f" | {flag}".encode())


def _edits(src: bytes, node: Node, flags: Sequence[str] = ()) -> Iterator[_Edit]:
    """The mutants at one node, by operator (``flags``: what bit-add may add)."""
    yield from _bit_adds(node, flags)
    t = node.type
    if t in ("binary_expression", "assignment_expression"):
        op = node.child_by_field_name("operator")
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if op is None:
            return
        sym = _text(op)
        for new in _ROR.get(sym, ()) if t == "binary_expression" else ():
            yield _Edit(op.start_point, "ror", f"`{sym}` -> `{new}`",
                        op.start_byte, op.end_byte, new.encode())
        for new in _AOR.get(sym, ()):
            yield _Edit(op.start_point, "aor", f"`{sym}` -> `{new}`",
                        op.start_byte, op.end_byte, new.encode())
        if t == "binary_expression" and sym in ("|", "&") and left is not None \
                and right is not None and not _contains_comment(node):
            for keep, drop in ((left, right), (right, left)):
                yield _Edit(op.start_point, "bit-drop",
                            f"`{_short(_text(node), 40)}` -> `{_short(_text(keep), 40)}` "
                            f"(drops `{_short(_text(drop), 30)}`)",
                            node.start_byte, node.end_byte, _bytes(keep))
    elif t == "number_literal":
        text = _text(node)
        for new, name in _literal_variants(text):
            yield _Edit(node.start_point, "const", f"`{text}` -> `{new}` ({name})",
                        node.start_byte, node.end_byte, new.encode())
    elif t == "expression_statement" and node.named_child_count == 1:
        expr = node.named_children[0]
        kind = {"assignment_expression": "store", "update_expression": "update",
                "call_expression": "call"}.get(expr.type)
        if kind == "store" and _text(expr.child_by_field_name("operator")) != "=":
            kind = "update"
        if kind is not None and not _contains_comment(node):
            start, end, repl = _statement_removal(src, node)
            yield _Edit(node.start_point, "stmt-del",
                        f"delete {kind} `{_short(_text(node))}`", start, end, repl)
    elif t == "return_statement":
        parent = node.parent
        guarded = parent is not None and (
            parent.type in ("if_statement", "else_clause")
            or (parent.type == "compound_statement" and parent.parent is not None
                and parent.parent.type in ("if_statement", "else_clause")))
        if guarded and not _contains_comment(node):
            start, end, repl = _statement_removal(src, node)
            yield _Edit(node.start_point, "return-del",
                        f"delete early return `{_short(_text(node))}`", start, end, repl)
    elif t == "call_expression":
        args = node.child_by_field_name("arguments")
        named = [a for a in args.named_children if a.type != "comment"] if args else []
        for a, b in itertools.pairwise(named):
            if _arg_kind(a) == _arg_kind(b) and a.text != b.text:
                between = src[a.end_byte:b.start_byte]
                if b"/*" in between or b"//" in between:
                    continue
                callee = node.child_by_field_name("function")
                yield _Edit(a.start_point, "arg-swap",
                            f"swap arguments `{_short(_text(a), 30)}` and "
                            f"`{_short(_text(b), 30)}` of {_short(_text(callee), 30)}()",
                            a.start_byte, b.end_byte, _bytes(b) + between + _bytes(a))


def _of_source(source: Source) -> list[Mutant]:
    tree = _parser().parse(source.text)
    flags = flag_names(tree.root_node)
    out: list[Mutant] = []
    for fn in tree.root_node.children if tree.root_node else ():
        fns = [fn] if fn.type == "function_definition" else [
            n for n in _walk(fn) if n.type == "function_definition"]  # inside #if blocks
        for f in fns:
            body = f.child_by_field_name("body")
            if body is None or body.has_error:
                continue
            name = _function_name(f)
            edits = [e for n in _walk(body) for e in _edits(source.text, n, flags)]
            edits.sort(key=lambda e: (e.node_point, list(OPERATORS).index(e.operator)))
            seen: dict[tuple[int, int, str], int] = {}
            for e in edits:
                key = (*e.node_point, e.operator)
                index = seen[key] = seen.get(key, -1) + 1
                line, col = e.node_point[0] + 1, e.node_point[1] + 1
                out.append(Mutant(
                    id=f"{source.path}:{line}:{col}:{e.operator}:{index}",
                    file=source.path, function=name, line=line, col=col,
                    operator=e.operator, index=index, description=e.description,
                    start=e.start, end=e.end, replacement=e.replacement, source=source))
    return out


def function_spans(text: bytes) -> list[tuple[str, int, int]]:
    """(name, first line, last line), 1-based, of every function defined in a C
    source: what ``--diff`` intersects with the lines a change touched."""
    tree = _parser().parse(text)
    return [(_function_name(f), f.start_point[0] + 1, f.end_point[0] + 1)
            for f in _walk(tree.root_node) if f.type == "function_definition"]


def unparsed(files: Iterable[Path], root: Path) -> list[str]:
    """``FILE:LINE FUNCTION`` of every function left out because tree-sitter
    could not parse its body (GNU asm whose template has a macro in it): a
    syntax tree recovered from an error can put operators inside strings."""
    out = []
    for path in sorted({Path(f).resolve() for f in files}):
        tree = _parser().parse(path.read_bytes())
        rel = path.relative_to(root.resolve()).as_posix()
        for f in _walk(tree.root_node):
            body = f.child_by_field_name("body") if f.type == "function_definition" else None
            if body is not None and body.has_error:
                out.append(f"{rel}:{f.start_point[0] + 1} {_function_name(f)}")
    return out


def mutants_of_text(text: str | bytes, path: str = "snippet.c") -> list[Mutant]:
    """Every mutant of one C source, in order (for a file on disk see ``mutants``)."""
    data = text.encode() if isinstance(text, str) else text
    return _of_source(Source(path, data))


def mutants(files: Iterable[Path], root: Path) -> list[Mutant]:
    """Every mutant of ``files`` (ids name them relative to ``root``): the
    files sorted by path whatever order they came in, each in source order."""
    out: list[Mutant] = []
    for path in sorted({Path(f).resolve() for f in files}):
        out.extend(_of_source(Source(path.relative_to(root.resolve()).as_posix(),
                                     path.read_bytes())))
    return out


def sample(items: Sequence[Mutant], n: int, seed: int) -> list[Mutant]:
    """``n`` of ``items`` picked with ``seed``, in their original order: the same
    list and seed give the same sample on every run and machine."""
    if n >= len(items):
        return list(items)
    picked = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in picked]


def find(items: Iterable[Mutant], mutant_id: str) -> Mutant:
    for m in items:
        if m.id == mutant_id:
            return m
    raise KeyError(f"no mutant {mutant_id!r} (python -m harness mutate --list shows the ids)")
