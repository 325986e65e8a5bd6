"""Every ```python block of README.md and docs/*.md runs.

The blocks of one file run in order in one fresh namespace (a page is one session), in a
temporary working directory. A block is skipped when its fence says ``python no-run`` or
when the line before it is ``<!-- no-run -->``. Tracebacks point at the Markdown line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_NO_RUN = "<!-- no-run -->"


@attrs.frozen
class Block:
    """One fenced code block: its info string, first code line (1-based) and code."""

    info: str
    line: int
    code: str
    skipped_by_comment: bool

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def runs(self) -> bool:
        return (
            self.language == "python"
            and "no-run" not in self.info.split()[1:]
            and not self.skipped_by_comment
        )


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, in order."""
    found: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        fence, info = match["fence"], match["info"].strip()
        previous = next((line.strip() for line in reversed(lines[:index]) if line.strip()), "")
        body: list[str] = []
        index += 1
        start = index + 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence
        found.append(Block(info, start, "\n".join(body) + "\n", previous == _NO_RUN))
    return found


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def runnable(path: Path) -> list[Block]:
    return [block for block in blocks(path.read_text(encoding="utf-8")) if block.runs]


@pytest.mark.parametrize(
    "page",
    [page for page in pages() if runnable(page)],
    ids=lambda page: str(page.relative_to(ROOT)),
)
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for block in runnable(page):
        # pad so that a traceback's line number is the line in the Markdown file
        source = "\n" * (block.line - 1) + block.code
        code = compile(source, str(page.relative_to(ROOT)), "exec")
        exec(code, namespace)


def test_the_parser() -> None:
    text = "\n".join(
        [
            "Intro",
            "```python",
            "x = 1",
            "```",
            "<!-- no-run -->",
            "",
            "```python",
            "raise SystemExit",
            "```",
            "```python no-run",
            "raise SystemExit",
            "```",
            "````markdown",
            "```python",
            "nested = True",
            "```",
            "````",
            "```bash",
            "ls",
            "```",
        ]
    )
    found = blocks(text)
    assert [(b.language, b.line, b.runs) for b in found] == [
        ("python", 3, True),
        ("python", 8, False),
        ("python", 11, False),
        ("markdown", 14, False),
        ("bash", 19, False),
    ]
    assert found[0].code == "x = 1\n"
    assert found[3].code == "```python\nnested = True\n```\n"


def test_the_readme_and_the_tutorial_have_code_that_runs() -> None:
    assert runnable(ROOT / "README.md")
    assert len(runnable(ROOT / "docs" / "tutorial.md")) >= 5
    assert runnable(ROOT / "docs" / "testing.md")


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict``: every page in the nav exists, links resolve, the API
    reference renders from the docstrings without a warning."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    api = (tmp_path / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("livechat_core.Desk", "livechat_core.testing.strategies.scenarios"):
        assert f'id="{name}"' in api
