"""Re-execute examples/shift.ipynb in place, so its committed outputs are current.

    .venv/bin/python scripts/run_example_notebook.py

Needs the ``test`` extra (nbclient, nbformat, ipykernel, pandas, matplotlib). Cell ids are
made stable and per-cell execution timestamps are dropped, so a re-run that changes no
figure changes no line of the file. ``tests/test_example_notebook.py`` fails when the
committed outputs differ from a fresh run.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "shift.ipynb"


def main() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index:02d}"
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, NOTEBOOK)  # type: ignore[no-untyped-call]
    print(f"executed {NOTEBOOK}")


if __name__ == "__main__":
    main()
