"""Reports and the wallboard in notebooks: HTML with inline SVG, matplotlib, pandas."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from livechat_core import Desk, events_frame
from livechat_core.testing import ManualClock
from test_report import T0, scripted_shift


@pytest.fixture
def desk() -> Desk:
    clock = ManualClock(T0)
    desk = Desk(clock=clock)
    scripted_shift(desk, clock)
    return desk


def _svgs(markup: str) -> list[ET.Element]:
    found = []
    start = 0
    while (begin := markup.find("<svg", start)) != -1:
        end = markup.index("</svg>", begin) + len("</svg>")
        found.append(ET.fromstring(markup[begin:end]))  # well-formed XML, or this raises
        start = end
    return found


def test_report_html_has_tables_and_inline_svg(desk: Desk) -> None:
    markup = desk.report()._repr_html_()
    assert markup.count("<table") == 2  # queues, agents
    assert "50.0%" in markup  # the service level of the scripted shift
    assert "Jana Nováková (jana)" in markup
    assert "<script" not in markup
    assert "http" not in markup.replace('xmlns="http://www.w3.org/2000/svg"', "")
    svgs = _svgs(markup)
    assert len(svgs) == 2  # the service-level meter and the chats-per-interval bars
    bars = [e for e in svgs[1].iter() if e.tag.endswith("rect") and e.find("{*}title") is not None]
    assert len(bars) == 3  # one interval: offered, handled, abandoned


def test_html_escapes_names() -> None:
    clock = ManualClock(T0)
    desk = Desk(clock=clock)
    desk.add_queue("<b>vip</b>", ["Done"])
    desk.login("x", "<script>alert(1)</script>", ["<b>vip</b>"])
    desk.start_chat("<b>vip</b>", "A", "a@example.com")
    for markup in (desk.report()._repr_html_(), desk.stats()._repr_html_()):
        assert "<script>" not in markup
        assert "<b>vip" not in markup
        assert "&lt;b&gt;vip&lt;/b&gt;" in markup


def test_wallboard_html(desk: Desk) -> None:
    markup = desk.stats()._repr_html_()
    assert "longest wait" in markup
    assert len(_svgs(markup)) == 1  # agents by state
    assert ">logged_out<" in markup


def test_report_text_lists_queues_agents_and_intervals(desk: Desk) -> None:
    text = desk.report().format(width=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "support" in text
    assert "Petr Svoboda (petr)" in text
    assert "09:00" in text


def test_plot_returns_a_figure_and_leaves_pyplot_alone(desk: Desk) -> None:
    # in a fresh interpreter: nothing imported pyplot before, nothing may switch the backend
    code = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import matplotlib
matplotlib.use("svg")
from livechat_core import Desk
from livechat_core.testing import ManualClock
from test_report import T0, scripted_shift
clock = ManualClock(T0)
desk = Desk(clock=clock)
scripted_shift(desk, clock)
figure = desk.report().plot()
from matplotlib.figure import Figure
assert isinstance(figure, Figure), type(figure)
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules or not sys.modules["matplotlib.pyplot"].get_fignums()
import io
buffer = io.BytesIO()
figure.savefig(buffer, format="png")
assert buffer.getvalue().startswith(b"\\x89PNG")
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_frames(desk: Desk) -> None:
    pd = pytest.importorskip("pandas")
    stored = list(desk.stored_events())
    frame = events_frame(stored)
    assert len(frame) == len(stored)
    assert frame["id"].is_unique
    assert str(frame["at"].dt.tz) == "UTC"
    accepted = frame[frame["type"] == "OfferAccepted"]
    assert sorted(accepted["agent_id"]) == ["eva", "jana", "jana", "petr"]
    report = desk.report()
    intervals = report.to_frame()
    assert len(intervals) == len(report.intervals) == 1
    assert intervals.index[0] == pd.Timestamp(T0, unit="s", tz="UTC")
    assert intervals["offered"].tolist() == [5]
    assert intervals["service_level"].tolist() == [0.5]
    assert report.queues_frame().loc["billing", "aht"] == 160.0
    assert report.agents_frame().loc["petr", "rona"] == 1
    assert events_frame([]).columns.tolist()[:3] == ["id", "type", "aggregate"]


def test_manual_clock_and_strategies_import_without_pytest() -> None:
    # a notebook user with the plots extra has no pytest: importing it must not be needed
    code = """
import sys
sys.modules["pytest"] = None  # any "import pytest" now raises ImportError
from livechat_core.testing import ManualClock
from livechat_core.testing.clock import ManualClock as Again
import livechat_core.testing.strategies
assert ManualClock is Again and ManualClock(5.0)() == 5.0
try:
    from livechat_core.testing import StoreConformance
except ImportError:
    print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    from livechat_core.testing import StoreConformance

    assert StoreConformance.__name__ == "StoreConformance"


def test_short_reprs_and_the_shift_in_a_notebook(desk: Desk) -> None:
    from livechat_core import ShiftConfig, simulate

    report = desk.report()
    assert repr(report) == (
        "<Report offered=5 handled=3 abandoned=2 service_level=0.5 asa=25 aht=150 "
        "abandon_rate=0.4; 2 queues, 3 agents, 1 intervals>"
    )
    shift = simulate(ShiftConfig(seed=3, minutes=10, agents=3))
    assert len(repr(shift)) < 200
    assert repr(shift).startswith("<ShiftReport seed=3 agents=3 minutes=10: ")
    markup = shift._repr_html_()
    assert "Simulated shift" in markup
    assert "service level" in markup
    assert len(_svgs(markup)) == 2
