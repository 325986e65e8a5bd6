"""The documentation site works offline in a real browser (headless Debian chromium).

The site is built with ``mkdocs build --strict``; each checked page is opened from the
file system with every host name resolving to nothing, so anything fetched from a CDN
fails. A small script added to a copy of the page measures, after the page's own scripts
ran, what a reader would see: Mermaid diagrams drawn as SVG (not raw text), code coloured
by the site's own stylesheet, tables that fit the content column, and no resource loaded
from the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

PROBE = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const content = document.querySelector(".wy-nav-content") || document.body;
  const right = content.getBoundingClientRect().right;
  const keyword = document.querySelector(".highlight .k, .highlight .kn, .highlight .nb");
  const result = {
    mermaidBlocks: document.querySelectorAll(".mermaid").length,
    mermaidDrawn: document.querySelectorAll(".mermaid svg").length,
    mermaidErrors: [...document.querySelectorAll(".mermaid")]
      .filter((node) => /Syntax error|Parse error/.test(node.textContent))
      .length,
    codeBlocks: document.querySelectorAll(".highlight pre").length,
    keywordColour: keyword ? getComputedStyle(keyword).color : null,
    tables: document.querySelectorAll(".rst-content table").length,
    tooWide: [...document.querySelectorAll(".rst-content table")]
      .filter((table) => table.getBoundingClientRect().right > right + 1
        || table.scrollWidth > table.clientWidth + 1)  // cut off, or scrolled sideways
      .map((table) => table.querySelector("th, td").textContent),
    fetched: performance.getEntriesByType("resource").map((entry) => entry.name)
      .filter((name) => !name.startsWith("file:")),
  };
  document.body.setAttribute("data-probe", JSON.stringify(result));
}, 3000));
</script>
"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI must check the docs in a browser")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out


def probe(site: Path, page: str) -> dict[str, object]:
    """Open ``page`` of the built site offline in chromium; what the probe measured."""
    browser = chromium()
    original = site / page
    copy = original.with_name(original.stem + ".probe.html")
    copy.write_text(
        original.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--window-size=1280,900",
            "--virtual-time-budget=20000",
            "--dump-dom",
            copy.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    found = re.search(r'data-probe="([^"]*)"', result.stdout)
    assert found is not None, (result.returncode, result.stderr[-2000:])
    text = found.group(1).replace("&quot;", '"').replace("&amp;", "&")
    measured: dict[str, object] = json.loads(text)
    return measured


def test_pages_name_no_outside_script_or_stylesheet(site: Path) -> None:
    for page in site.rglob("*.html"):
        markup = page.read_text(encoding="utf-8")
        outside = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?:)?//[^"]+"', markup)
        assert outside == [], page


def test_state_diagrams_are_drawn_offline(site: Path) -> None:
    measured = probe(site, "model/index.html")
    assert measured["mermaidBlocks"] == 3  # agent, conversation, leg
    assert measured["mermaidDrawn"] == 3
    assert measured["mermaidErrors"] == 0
    assert measured["fetched"] == []


def test_code_is_highlighted_offline(site: Path) -> None:
    measured = probe(site, "reports/index.html")
    assert isinstance(measured["codeBlocks"], int)
    assert measured["codeBlocks"] >= 2
    # Pygments' keyword green, from the site's own stylesheet (the text is black without it)
    assert measured["keywordColour"] == "rgb(0, 128, 0)"
    assert measured["fetched"] == []


@pytest.mark.parametrize("page", ["cli/index.html", "reports/index.html", "errors/index.html"])
def test_wide_tables_fit_the_page(site: Path, page: str) -> None:
    measured = probe(site, page)
    assert isinstance(measured["tables"], int)
    assert measured["tables"] >= 1
    assert measured["tooWide"] == []
