"""How reports and the wallboard show themselves: plain text, notebook HTML, matplotlib.

The HTML has inline styles and small inline SVG charts (no script, no external file),
so it renders the same in Jupyter, VS Code, GitHub's notebook viewer or a saved page.
The matplotlib figure is built from :class:`matplotlib.figure.Figure` directly: pyplot,
its global backend and its list of open figures are never touched.
"""

from __future__ import annotations

import html
import textwrap
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._report import AgentFigures, Figures, Report, Wallboard
    from ._simulation import ShiftReport

_FONT = "font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; font-size: 13px"
_TABLE = "border-collapse: collapse; margin: 4px 0 10px 0"
_CELL = "padding: 2px 10px; border-bottom: 1px solid #d0d7de; text-align: right"
_HEAD = _CELL + "; font-weight: 600; background: #f6f8fa"
_LEFT = "; text-align: left"
_BLUE, _GREEN, _RED, _PURPLE, _GREY = "#1f6feb", "#1a7f37", "#cf222e", "#8250df", "#8c959f"
_STATE_COLOURS = {"available": _GREEN, "idle": "#9a6700", "rona": _RED, "logged_out": _GREY}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def seconds_text(value: float | None) -> str:
    """``75.4`` → ``"1:15"``; ``None`` → ``"–"``."""
    if value is None:
        return "–"
    total = round(value)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def percent_text(value: float | None) -> str:
    """``0.875`` → ``"87.5%"``; ``None`` → ``"–"``."""
    return "–" if value is None else f"{value * 100:.1f}%"


def time_text(at: float | None) -> str:
    """POSIX seconds as ``YYYY-MM-DD HH:MM:SS`` UTC; ``None`` → ``"–"``."""
    if at is None:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


def _figure_cells(figures: Figures) -> list[str]:
    return [
        str(figures.offered),
        str(figures.handled),
        str(figures.abandoned),
        percent_text(figures.service_level),
        seconds_text(figures.asa),
        percent_text(figures.abandon_rate),
        seconds_text(figures.aht),
    ]


FIGURE_HEADERS = ("offered", "handled", "abandoned", "service level", "ASA", "abandoned %", "AHT")
AGENT_HEADERS = ("agent", "legs", "RONA", "busy", "logged in", "idle", "occupancy")


def _agent_cells(agent: AgentFigures) -> list[str]:
    return [
        f"{agent.name} ({agent.agent_id})" if agent.name else agent.agent_id,
        str(agent.legs),
        str(agent.rona),
        seconds_text(agent.busy),
        seconds_text(agent.logged_in),
        seconds_text(agent.idle),
        percent_text(agent.occupancy),
    ]


# --------------------------------------------------------------------------- text


def _columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def report_text(report: Report, width: int = 100) -> str:
    """The report for a terminal: the window, then tables by queue, agent and interval."""
    heading = (
        f"Chats started {time_text(report.since) if report.since is not None else 'any time'}"
        f" to {time_text(report.until) if report.until is not None else 'now'}; agent time "
        f"{time_text(report.start)} to {time_text(report.end)} (UTC); service level within "
        f"{report.service_level_threshold:g} s"
    )
    lines = [*textwrap.wrap(heading, max(40, width)), ""]
    rows = [["all", *_figure_cells(report)]]
    rows += [[name, *_figure_cells(figures)] for name, figures in report.by_queue.items()]
    lines += _columns(("queue", *FIGURE_HEADERS), rows)
    if report.by_agent:
        lines.append("")
        lines += _columns(AGENT_HEADERS, [_agent_cells(a) for a in report.by_agent.values()])
    busy = [i for i in report.intervals if i.figures.offered]
    if busy:
        lines.append("")
        lines += _columns(
            (f"{report.interval / 60:g} min from", *FIGURE_HEADERS),
            [[time_text(i.start)[11:16], *_figure_cells(i.figures)] for i in busy],
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- HTML


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(
        f'<th style="{_HEAD}{_LEFT if i == 0 else ""}">{_e(h)}</th>' for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="{_CELL}{_LEFT if i == 0 else ""}">{_e(cell)}</td>'
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    # a wide table scrolls inside its own box instead of being cut off
    return (
        '<div style="overflow-x: auto; max-width: 100%">'
        f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        "</div>"
    )


def _bars_svg(
    series: Sequence[tuple[str, Sequence[float], str]], labels: Sequence[str], title: str
) -> str:
    """Grouped vertical bars, one group per label: a small, self-contained SVG."""
    count = len(labels)
    if not count:
        return ""
    groups = len(series)
    top = max((v for _, values, _ in series for v in values), default=0.0) or 1.0
    bar = max(2.0, min(10.0, 560.0 / (count * (groups + 1))))
    step = bar * (groups + 1)
    # wide enough for the title and the legend even with one interval
    width, height, base = max(340.0, 40 + step * count + 10), 150.0, 120.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="{_e(title)}" style="display: block">',
        f"<title>{_e(title)}</title>",
        f'<text x="40" y="12" font-size="11" fill="#1f2328">{_e(title)}</text>',
        f'<line x1="40" y1="{base}" x2="{width - 10:.0f}" y2="{base}" stroke="#8c959f"/>',
        f'<text x="36" y="{base - 95}" font-size="9" text-anchor="end" fill="#656d76">'
        f"{top:g}</text>",
        f'<text x="36" y="{base}" font-size="9" text-anchor="end" fill="#656d76">0</text>',
    ]
    for index, label in enumerate(labels):
        x0 = 40 + index * step
        for group, (name, values, colour) in enumerate(series):
            value = values[index]
            h = 95.0 * value / top
            parts.append(
                f'<rect x="{x0 + group * bar:.1f}" y="{base - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{_e(label)} {_e(name)}: '
                f"{value:g}</title></rect>"
            )
        if count <= 12 or index % max(1, count // 8) == 0:
            parts.append(
                f'<text x="{x0:.1f}" y="{base + 12}" font-size="9" fill="#656d76">'
                f"{_e(label)}</text>"
            )
    legend_x = 40.0
    for name, _, colour in series:
        parts.append(
            f'<rect x="{legend_x}" y="{height - 12}" width="8" height="8" fill="{colour}"/>'
            f'<text x="{legend_x + 11}" y="{height - 4}" font-size="9" fill="#1f2328">'
            f"{_e(name)}</text>"
        )
        legend_x += 14 + 6 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def _meter_svg(value: float | None, label: str) -> str:
    """A horizontal 0–100 % bar."""
    fraction = 0.0 if value is None else max(0.0, min(1.0, value))
    colour = _GREEN if fraction >= 0.8 else ("#9a6700" if fraction >= 0.5 else _RED)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="12" role="img" '
        f'aria-label="{_e(label)} {percent_text(value)}" style="vertical-align: middle">'
        '<rect x="0" y="1" width="120" height="10" rx="2" fill="#eaeef2"/>'
        f'<rect x="0" y="1" width="{120 * fraction:.1f}" height="10" rx="2" fill="{colour}"/>'
        "</svg>"
    )


def report_html(report: Report) -> str:
    """The report as notebook HTML: headline figures, tables, inline SVG trends."""
    window = (
        f"chats started {_e(time_text(report.since) if report.since is not None else 'any time')}"
        f" to {_e(time_text(report.until) if report.until is not None else 'now')} (UTC)"
    )
    headline = "".join(
        f'<div style="display: inline-block; margin: 0 18px 6px 0">'
        f'<div style="color: #656d76; font-size: 11px">{_e(label)}</div>'
        f'<div style="font-size: 18px; font-weight: 600">{_e(value)}</div>{extra}</div>'
        for label, value, extra in (
            (
                f"service level ({report.service_level_threshold:g} s)",
                percent_text(report.service_level),
                _meter_svg(report.service_level, "service level"),
            ),
            ("ASA", seconds_text(report.asa), ""),
            ("AHT", seconds_text(report.aht), ""),
            ("abandoned", percent_text(report.abandon_rate), ""),
            ("chats", f"{report.handled} of {report.offered} handled", ""),
        )
    )
    parts = [
        f'<div style="{_FONT}; color: #1f2328">',
        f'<div style="color: #656d76">Report: {window}</div>',
        f"<div>{headline}</div>",
        _table(
            ("queue", *FIGURE_HEADERS),
            [
                ["all", *_figure_cells(report)],
                *([name, *_figure_cells(f)] for name, f in report.by_queue.items()),
            ],
        ),
    ]
    if report.by_agent:
        rows = []
        for agent in report.by_agent.values():
            cells = _agent_cells(agent)
            rows.append(cells)
        parts.append(_table(AGENT_HEADERS, rows))
    if report.intervals:
        labels = [time_text(i.start)[11:16] for i in report.intervals]
        parts.append(
            _bars_svg(
                [
                    ("offered", [i.figures.offered for i in report.intervals], _BLUE),
                    ("handled", [i.figures.handled for i in report.intervals], _GREEN),
                    ("abandoned", [i.figures.abandoned for i in report.intervals], _RED),
                ],
                labels,
                f"chats per {report.interval / 60:g} minutes",
            )
        )
    parts.append("</div>")
    return "".join(parts)


def shift_html(shift: ShiftReport) -> str:
    """A simulated shift for notebooks: its text summary, then its figures."""
    config = shift.config
    return (
        f'<div style="{_FONT}; color: #1f2328">'
        f"<div><b>Simulated shift</b> · seed {config.seed} · {config.agents} agents · "
        f"{config.arrival_rate:g} chats/min for {config.minutes:g} min</div>"
        f'<pre style="font-size: 12px; line-height: 1.35; overflow-x: auto">'
        f"{_e(shift.format(100))}</pre>"
        f"{report_html(shift.figures)}</div>"
    )


def wallboard_html(board: Wallboard) -> str:
    """The wallboard as notebook HTML: queues, agent states with a stacked bar."""
    queue_rows = [
        [name, str(q.waiting), seconds_text(q.longest_wait), str(q.available)]
        for name, q in board.queues.items()
    ]
    total = sum(board.agents.values())
    segments, x = [], 0.0
    for state, count in board.agents.items():
        if not count:
            continue
        w = 300.0 * count / total
        segments.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="14" '
            f'fill="{_STATE_COLOURS.get(state, _PURPLE)}">'
            f"<title>{_e(state)}: {count}</title></rect>"
        )
        x += w
    bar = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="14" role="img" '
        f'aria-label="agents by state" style="display: block; margin: 4px 0">{"".join(segments)}'
        "</svg>"
        if total
        else ""
    )
    return (
        f'<div style="{_FONT}; color: #1f2328">'
        f'<div style="color: #656d76">Wallboard at {_e(time_text(board.at))} UTC</div>'
        + _table(("queue", "waiting", "longest wait", "agents available"), queue_rows)
        + bar
        + _table(("state", "agents"), [[state, str(n)] for state, n in board.agents.items()])
        + "</div>"
    )


# --------------------------------------------------------------------------- matplotlib


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plots need matplotlib: pip install 'livechat-core[plots]'") from error
    return Figure


def report_figure(report: Report) -> Any:
    """A matplotlib ``Figure``: chats per interval with service level, and occupancy."""
    figure = _figure_class()(figsize=(9, 6.5), layout="constrained")
    top, bottom = figure.subplots(2, 1)
    labels = [time_text(i.start)[11:16] for i in report.intervals]
    positions = list(range(len(labels)))
    offered = [i.figures.offered for i in report.intervals]
    handled = [i.figures.handled for i in report.intervals]
    abandoned = [i.figures.abandoned for i in report.intervals]
    top.bar([p - 0.27 for p in positions], offered, width=0.27, label="offered", color=_BLUE)
    top.bar(positions, handled, width=0.27, label="handled", color=_GREEN)
    top.bar([p + 0.27 for p in positions], abandoned, width=0.27, label="abandoned", color=_RED)
    top.set_xticks(positions, labels, rotation=45 if len(labels) > 8 else 0)
    top.set_ylabel("chats")
    top.set_title(f"Chats per {report.interval / 60:g} minutes (UTC)")
    levels = [
        (p, i.figures.service_level * 100)
        for p, i in zip(positions, report.intervals, strict=True)
        if i.figures.service_level is not None
    ]
    right = top.twinx()
    right.plot([p for p, _ in levels], [v for _, v in levels], "o-", color=_PURPLE)
    right.set_ylim(0, 105)
    right.set_ylabel(f"service level % ({report.service_level_threshold:g} s)", color=_PURPLE)
    top.legend(loc="upper left", fontsize=8)
    agents = list(report.by_agent.values())
    names = [agent.name or agent.agent_id for agent in agents]
    occupancy = [(agent.occupancy or 0.0) * 100 for agent in agents]
    bottom.barh(names, occupancy, color=_BLUE)
    bottom.set_xlim(0, 100)
    bottom.set_xlabel("occupancy %")
    bottom.set_title("Agent occupancy")
    bottom.invert_yaxis()
    return figure
