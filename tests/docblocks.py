"""Every fenced code block of the README and of docs/, with what the test suite does with it
(issue 30: "every command and code block ... is run by the test suite, or marked with the reason
it cannot be"). tests/test_doc_blocks.py checks the verdicts and runs the blocks; run this file
(``python tests/docblocks.py``) for the table of every block, its verdict and its reason.

A block's verdict is the default of its language, or a marker: an HTML comment (invisible on
GitHub and in the MkDocs site) as the last non-blank line before the fence::

    <!-- docs-test: run -->                        the default of bash, sh, console and python blocks
    <!-- docs-test: text: what a run prints -->    shown, not run: an output sample, a listing, a fragment
    <!-- docs-test: skip: needs a Slurm cluster --> not run, and why
    <!-- docs-test: by tests/test_x.py::test_y -->  run by that test (which must exist), maybe ": how"

A ```text block is ``text`` without a marker. Blocks of other languages, and plain ``` blocks,
need a marker. One marker may give the command lines of a shell block verdicts of their own,
one clause a line, each line's first clause whose `PREFIX` (in backticks) starts the line::

    <!-- docs-test
    `pip install`: skip: installs from the package index
    `.venv/bin/mkdocs build`: by tests/test_docs.py::test_docs_site_builds_strictly
    -->

A clause without a prefix is the block's own verdict (the lines no prefix matches). What "run"
means for a line (a ``simgen`` command at a tiny size, a script with tiny options) is
tests/test_doc_blocks.py's; a line it cannot run must be marked.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_LANGS = {"bash", "sh", "shell", "console", "python", "py"}
SHELL_LANGS = {"bash", "sh", "shell", "console"}
TEXT_LANGS = {"text"}
KINDS = ("run", "text", "skip", "by")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<lang>[\w+-]*)\s*$")
CLAUSE = re.compile(r"^(?:`(?P<prefix>[^`]+)`:\s*)?(?P<kind>run|text|skip|by)\b\s*(?P<rest>.*)$")


def pages() -> list[Path]:
    """The README and every page of docs/ (the generated ones too: docs/config.md has no block)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@dataclass(frozen=True)
class Verdict:
    kind: str  # run | text | skip | by
    reason: str = ""  # why (text, skip), or the test (by)
    prefix: str | None = None

    @property
    def test(self) -> str:
        """The test a ``by`` verdict names (tests/FILE.py::NAME), without its note."""
        m = re.match(r"tests/[\w/]+\.py::\w+", self.reason) if self.kind == "by" else None
        return m[0] if m else ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}" if self.reason else self.kind


@dataclass(frozen=True)
class Command:
    """A command line of a shell block (continuations joined, comments kept), or a whole Python block."""
    line: int  # its first line in the page, from 1
    text: str
    verdict: Verdict


@dataclass(frozen=True)
class Block:
    page: str  # relative to the checkout: README.md, docs/flow.md
    line: int  # the opening fence's line, from 1
    end: int  # the closing fence's line
    lang: str  # "" for a plain ``` block
    text: str
    clauses: tuple[Verdict, ...] = ()
    marker_errors: tuple[str, ...] = ()
    commands: tuple[Command, ...] = field(default=(), compare=False)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}-{self.lang or 'plain'}"

    @property
    def verdict(self) -> Verdict | None:
        """The block's own verdict: its marker's clause without a prefix, or its language's default
        (None: a language or plain block without a marker)."""
        own = [c for c in self.clauses if c.prefix is None]
        if own:
            return own[0]
        if self.lang in RUN_LANGS:
            return Verdict("run")
        if self.lang in TEXT_LANGS:
            return Verdict("text", "```text: shown, not run")
        return None

    @property
    def is_shell(self) -> bool:
        return self.lang in SHELL_LANGS


def parse_marker(body: str) -> tuple[list[Verdict], list[str]]:
    """The clauses of a marker's body (what follows ``docs-test``), and what could not be read."""
    body = body.strip()
    lines = [body[1:].strip()] if body.startswith(":") else [ln.strip() for ln in body.splitlines()]
    clauses, errors = [], []
    for ln in filter(None, lines):
        m = CLAUSE.match(ln)
        if not m:
            errors.append(f"unreadable clause {ln!r}")
            continue
        kind, rest = m["kind"], m["rest"].strip()
        if kind in ("text", "skip"):
            if not rest.startswith(":") or not rest[1:].strip():
                errors.append(f"{kind} without a reason: {ln!r} (write `{kind}: WHY`)")
            rest = rest[1:].strip()
        elif kind == "by":
            if not re.match(r"^tests/[\w/]+\.py::\w+", rest):
                errors.append(f"by names no test: {ln!r} (write `by tests/FILE.py::TEST`)")
        elif rest:
            errors.append(f"run takes nothing after it: {ln!r}")
        clauses.append(Verdict(kind, rest, m["prefix"]))
    return clauses, errors


def marker_before(lines: list[str], k: int) -> tuple[list[Verdict], list[str]]:
    """The marker ending on the last non-blank line before line index ``k`` (the fence)."""
    j = k - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0 or not lines[j].rstrip().endswith("-->"):
        return [], []
    i = j
    while i >= 0 and "<!--" not in lines[i]:
        i -= 1
    comment = "\n".join(ln.strip() for ln in lines[i:j + 1])
    m = re.match(r"^<!--\s*docs-test\b(.*)-->$", comment, re.S)
    return parse_marker(m[1]) if m else ([], [])


def command_lines(block_text: str, first: int) -> list[tuple[int, str]]:
    """(page line, command) of a shell block: ``\\`` continuations joined, blank and comment-only
    lines left out."""
    out, cur, start = [], "", 0
    for n, ln in enumerate(block_text.splitlines(), first):
        if not cur and (not ln.strip() or ln.strip().startswith("#")):
            continue
        if not cur:
            start = n
        if ln.rstrip().endswith("\\"):
            cur += ln.rstrip()[:-1] + " "
            continue
        out.append((start, (cur + ln).strip()))
        cur = ""
    if cur:
        out.append((start, cur.strip()))
    return out


def code(command: str) -> str:
    """A command line without its trailing comment."""
    try:
        return shlex.join(shlex.split(command, comments=True))
    except ValueError:
        return command


def with_commands(b: Block) -> Block:
    if b.verdict is None and not b.clauses:
        return b
    if b.is_shell:
        raw = command_lines(b.text, b.line + 1)
    elif b.lang in RUN_LANGS:
        raw = [(b.line + 1, b.text)]
    else:
        return b
    cmds = []
    for n, text in raw:
        v = next((c for c in b.clauses if c.prefix is not None and text.startswith(c.prefix)), b.verdict)
        cmds.append(Command(n, text, v if v is not None else Verdict("run")))
    return Block(b.page, b.line, b.end, b.lang, b.text, b.clauses, b.marker_errors, tuple(cmds))


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    rel = path.relative_to(ROOT).as_posix()
    found, k = [], 0
    while k < len(lines):
        m = FENCE.match(lines[k])
        if not m:
            k += 1
            continue
        fence, indent = m["fence"], len(m["indent"])
        end = k + 1
        while end < len(lines) and not re.match(rf"^ {{0,{indent}}}{re.escape(fence)}\s*$", lines[end]):
            end += 1
        body = "\n".join(ln[indent:] if ln[:indent].strip() == "" else ln for ln in lines[k + 1:end])
        clauses, errors = marker_before(lines, k)
        found.append(with_commands(Block(rel, k + 1, end + 1, m["lang"], body + "\n", tuple(clauses), tuple(errors))))
        k = end + 1
    return found


def collect() -> list[Block]:
    """Every fenced code block of the README and docs/, in page order."""
    return [b for p in pages() for b in blocks_of(p)]


def table(blocks: list[Block]) -> str:
    rows = []
    for b in blocks:
        v = b.verdict
        rows.append(f"{b.id:48} {str(v) if v else 'UNMARKED'}")
        if b.is_shell and any(c.verdict != v for c in b.commands):
            for c in b.commands:
                rows.append(f"    {b.page}:{c.line:<4} {str(c.verdict)[:100]}  | {code(c.text)[:60]}")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(collect()))
