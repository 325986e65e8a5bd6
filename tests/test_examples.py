"""Every script in ``examples/`` runs, in a subprocess, in a fresh working directory."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


def run(example: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONWARNINGS": "error", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, str(example)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(example: Path, tmp_path: Path) -> None:
    result = run(example, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_the_notebook_writes_its_cards(tmp_path: Path) -> None:
    result = run(EXAMPLES[0].parent / "notebook_shift.py", tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "shift.html").read_text(encoding="utf-8")
    for heading in ("The report", "The busiest conversation", "The desk", "The conference"):
        assert heading.split()[-1] in page
    assert 'class="livechat-conversation"' in page
    assert 'class="livechat-agent"' in page
    assert 'class="livechat-desk"' in page
    # the live desk's customer named by a phone number is masked on every card
    assert "*********7542" in page
    assert "+447966197542" not in page
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "shift.png").read_bytes().startswith(b"\x89PNG")
