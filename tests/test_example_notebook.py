"""examples/shift.ipynb runs top to bottom in a real Jupyter kernel (nbclient, ipykernel)
and shows what its committed outputs show."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

NOTEBOOK = Path(__file__).parent.parent / "examples" / "shift.ipynb"


def outputs(notebook: Any) -> list[tuple[str, str]]:
    """Each code cell's outputs as (kind, text): streams and plain-text results."""
    found = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.output_type == "stream":
                found.append((output.name, output.text))
            elif output.output_type in ("execute_result", "display_data"):
                kinds = sorted(output.data)
                found.append(("result " + " ".join(kinds), output.data.get("text/plain", "")))
            else:
                found.append((output.output_type, output.get("evalue", "")))
    return found


def test_the_notebook_runs_and_matches_its_committed_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the notebook's "python3" kernel is this interpreter (the venv with livechat-core and
    # ipykernel), whatever kernels the machine or the user's home may have registered
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (livechat-core tests)",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    committed = nbformat.read(NOTEBOOK, as_version=4)
    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    notebook = nbformat.read(copy, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError, with the cell, when any cell fails
    fresh = outputs(notebook)
    assert fresh == outputs(committed)  # the committed notebook is executed and current
    kinds = [kind for kind, _ in fresh]
    # the wallboard and the report show as HTML, the figure as an image, frames as tables
    assert kinds.count("result text/html text/plain") >= 5
    assert "result image/png text/plain" in kinds
    html = [
        output.data["text/html"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "execute_result" and "text/html" in output.data
    ]
    assert any("Wallboard at" in markup and "<svg" in markup for markup in html)
    assert any("service level" in markup and "<svg" in markup for markup in html)
