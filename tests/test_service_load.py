"""The load script runs end to end (briefly): customers and agents over real sockets
against a service it starts in its own process, and nothing is lost or duplicated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_load_script_loses_nothing(tmp_path: Path) -> None:
    report = tmp_path / "load.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "load_service.py"),
            "--customers",
            "12",
            "--agents",
            "3",
            "--duration",
            "3",
            "--rate",
            "2",
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    figures = json.loads(report.read_text())
    assert figures["chats_accepted"] == 12
    assert figures["messages_sent"] > 0
    assert figures["messages_received"] == figures["messages_sent"]
    assert (figures["lost"], figures["duplicated"]) == (0, 0)
    assert figures["refusals_or_failures"] == {}
    assert 0 < figures["latency_ms"]["p50"] <= figures["latency_ms"]["p99"]
