"""Regenerate the Mermaid diagrams in docs/model.md from the machine declarations."""

from __future__ import annotations

import pathlib
import re

from livechat_core._machines import MACHINES, mermaid

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "model.md"


def main() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name, machine in MACHINES.items():
        block = (
            f"<!-- diagram:{name} -->\n```mermaid\n{mermaid(machine)}```\n<!-- /diagram:{name} -->"
        )
        text, count = re.subn(
            rf"<!-- diagram:{name} -->.*?<!-- /diagram:{name} -->",
            lambda _, block=block: block,
            text,
            flags=re.S,
        )
        if count != 1:
            raise SystemExit(f"docs/model.md needs one <!-- diagram:{name} --> marker pair")
    DOCS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
