"""The ``livechat-core`` command line: ``simulate``, ``mask``, ``report``, ``diagram``,
``serve``, ``relay``, ``worker``.

Every failure a user can cause (a bad option, an unreadable file, a malformed line) ends
with one line on standard error and a non-zero exit status: 2 for usage errors, 1 for
data and file errors. Progress bars go to standard error, only when it is a terminal or
``--progress`` asks for one, so pipelines stay clean.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import io
import json
import math
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, NoReturn, TextIO

from ._cli_services import ServiceDataError, ServiceUsageError, add_service_commands
from ._errors import InvalidArgument, LivechatError
from ._events import Event
from ._events import to_record as event_to_record
from ._exports import mask_event_record
from ._machines import MACHINES, mermaid
from ._masking import ALL_KINDS, MaskingPolicy, find_sensitive, mask_text

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

PROGRAM = "livechat-core"
DEFAULT_DB = "livechat-sim.db"
DEFAULT_SERVICE_DB = "livechat.db"
_SQLITE_HEADER = b"SQLite format 3\x00"
_MAX_REPORTED = 20  # malformed lines reported one by one before a summary


class UsageError(Exception):
    """Bad arguments: exit status 2."""


class DataError(Exception):
    """Unreadable input, unwritable output or malformed data: exit status 1."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not the usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # argparse drops a failed write of --help silently; a full disk is an error here
        if message:
            if file is None:
                raise DataError("standard output is closed; redirect it to a file or a pipe")
            file.write(message)


# --------------------------------------------------------------------------- progress


class ProgressBar:
    """A one-line progress bar on standard error (``\\r``-redrawn, throttled)."""

    def __init__(self, label: str, enabled: bool, stream: TextIO | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = stream
        self._last_draw = 0.0
        self._drawn = False

    def update(self, fraction: float | None, detail: str = "") -> None:
        """Redraw with ``fraction`` done (``None`` when the total is unknown)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.1:
            return
        self._last_draw = now
        if fraction is None:
            bar = ""
        else:
            fraction = max(0.0, min(1.0, fraction))
            filled = round(fraction * 30)
            bar = f"[{'█' * filled}{'░' * (30 - filled)}] {fraction:4.0%} "
        stream = self.stream or sys.stderr
        stream.write(f"\r{self.label} {bar}{detail}\x1b[K")
        stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Erase the bar."""
        if self._drawn:
            stream = self.stream or sys.stderr
            stream.write("\r\x1b[K")
            stream.flush()
            self._drawn = False


def _progress_enabled(choice: bool | None) -> bool:
    if choice is not None:
        return choice
    return sys.stderr.isatty()


# --------------------------------------------------------------------------- argument types


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None


def _kinds(text: str) -> frozenset[str]:
    kinds = frozenset(part.strip() for part in text.split(",") if part.strip())
    if not kinds:
        raise argparse.ArgumentTypeError("expected kinds separated by commas, e.g. card,email")
    unknown = sorted(kinds - ALL_KINDS)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown kind {', '.join(unknown)}; choose from {', '.join(sorted(ALL_KINDS))}"
        )
    return kinds


def _delimiter(text: str) -> str:
    text = {"tab": "\t", "\\t": "\t"}.get(text, text)
    if len(text) != 1:
        raise argparse.ArgumentTypeError(f"a delimiter is one character, not {text!r}")
    return text


# --------------------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    """The ``livechat-core`` argument parser with its commands."""
    from . import __version__

    parser = _Parser(
        prog=PROGRAM,
        description="Live chat between website customers and contact-center agents.",
        epilog=f"Run '{PROGRAM} COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # not required here: main() names an unknown option before asking for a command
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    simulate = commands.add_parser(
        "simulate",
        help="run a seeded contact-center shift and print a report",
        description=(
            "Run a reproducible contact-center shift on a desk stored in SQLite: agents with "
            "capacities serve three queues, customers arrive at random, agents accept, miss "
            "offers (RONA) and recover, decline, transfer, conference, end and wrap up. "
            "Prints what happened; the same options give the same report and events."
        ),
    )
    simulate.add_argument("--seed", type=_seed, default=1, help="random seed (default 1)")
    simulate.add_argument(
        "--agents", type=_positive_int, default=8, help="agents on the shift (default 8)"
    )
    simulate.add_argument(
        "--minutes",
        type=_positive_float,
        default=60.0,
        help="minutes during which customers arrive (default 60)",
    )
    simulate.add_argument(
        "--arrival-rate",
        type=_positive_float,
        default=2.0,
        metavar="PER_MINUTE",
        help="customers per minute on average, Poisson arrivals (default 2)",
    )
    simulate.add_argument(
        "--db",
        default=DEFAULT_DB,
        metavar="PATH",
        help=(
            f"SQLite file for the desk (default {DEFAULT_DB}); replaced if it already holds a "
            "livechat-core store, refused if it holds anything else; ':memory:' keeps it in "
            "memory"
        ),
    )
    simulate.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    simulate.add_argument(
        "--events", metavar="FILE", help="write every event as JSON Lines (one record a line)"
    )
    simulate.add_argument(
        "--plot",
        metavar="FILE",
        help="draw queue length and handling times into an image (needs matplotlib)",
    )
    simulate.add_argument(
        "--unmasked-events",
        action="store_true",
        help=(
            "write customer text in the --events file as stored (default: masked by the "
            "desk's policy, every kind, like the agent desktop shows it)"
        ),
    )
    _progress_option(simulate)
    simulate.set_defaults(run=_simulate, parser=simulate)

    mask = commands.add_parser(
        "mask",
        help="mask cards, IBANs, SSNs, e-mails and phones in text, JSON Lines or CSV",
        description=(
            "Stream text, JSON Lines or CSV from FILE (or standard input) to standard output "
            "with sensitive data masked, in constant memory. Per-kind counts go to standard "
            "error. A malformed line is reported with its number and is fatal, or skipped "
            "(left out of the output) with --on-error skip."
        ),
    )
    mask.add_argument("file", nargs="?", default="-", help="input file; '-' or none: stdin")
    mask.add_argument(
        "--format",
        choices=("text", "jsonl", "csv"),
        default="text",
        help="input format (default text: every line is masked)",
    )
    mask.add_argument(
        "--field",
        action="append",
        metavar="NAME",
        help=(
            "JSON field or CSV column to mask (repeatable); default: every string value of "
            "each JSON record, every CSV column"
        ),
    )
    mask.add_argument(
        "--kinds",
        type=_kinds,
        metavar="KINDS",
        help=f"kinds to mask, comma-separated (default all: {','.join(sorted(ALL_KINDS))})",
    )
    mask.add_argument(
        "--keep-card-bin", action="store_true", help="keep a card's first six digits visible"
    )
    mask.add_argument("--off", action="store_true", help="masking off: copy the input unchanged")
    mask.add_argument(
        "--on-error",
        choices=("fail", "skip"),
        default="fail",
        help="a malformed line stops the run (fail, the default) or is left out (skip)",
    )
    mask.add_argument(
        "--delimiter",
        type=_delimiter,
        default=",",
        help="CSV field delimiter (default ','; 'tab' for tab-separated)",
    )
    _progress_option(mask)
    mask.set_defaults(run=_mask, parser=mask)

    _report_parser(commands)

    diagram = commands.add_parser(
        "diagram",
        help="print the Mermaid state diagram of a machine",
        description="Print the Mermaid diagram of a state machine, generated from its table.",
    )
    diagram.add_argument("machine", choices=sorted(MACHINES), help="which machine")
    diagram.add_argument(
        "--fenced", action="store_true", help="wrap it in a ```mermaid block for Markdown"
    )
    diagram.set_defaults(run=_diagram, parser=diagram)

    serve = commands.add_parser(
        "serve",
        help="run the reference service: HTTP API, WebSockets, agent desktop, chat widget",
        description=(
            "Run the reference web service (needs the 'service' extra) over a desk stored in "
            "SQLite or PostgreSQL: an HTTP endpoint for every command and view, a WebSocket "
            "per agent and per customer fed from the event log, deadlines fired in the "
            "background, the agent desktop at /desk/ and the chat widget at /widget/. "
            "Stops on Ctrl+C or SIGTERM."
        ),
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--store",
        default=DEFAULT_SERVICE_DB,
        metavar="PATH_OR_DSN",
        help=(
            f"a SQLite file (default {DEFAULT_SERVICE_DB}, created when missing) or a PostgreSQL "
            "DSN ('postgresql://...' or 'host=... dbname=...'; needs the 'postgres' extra)"
        ),
    )
    serve.add_argument(
        "--locale", choices=("en", "cs"), default="en", help="language of system messages"
    )
    serve.add_argument(
        "--no-masking",
        dest="masking",
        action="store_false",
        help="show customer data unmasked on the desktop (masking is on by default)",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="add the queues 'support' and 'billing' when the store lacks them",
    )
    serve.add_argument(
        "--tick-interval",
        type=_positive_float,
        default=0.5,
        metavar="SECONDS",
        help="how often expired deadlines are fired (default 0.5)",
    )
    serve.set_defaults(run=_serve, parser=serve)
    add_service_commands(commands)
    return parser


def _progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on standard error (default: only when it is a terminal)",
    )


# --------------------------------------------------------------------------- simulate


def _open_output(path: str) -> TextIO:
    try:
        return open(path, "w", encoding="utf-8", newline="\n")
    except OSError as error:
        raise DataError(f"cannot write {path!r}: {error.strerror or error}") from None


def _fresh_sqlite(path: str) -> None:
    """Remove a previous livechat-core store at ``path``; refuse to touch anything else."""
    if not os.path.lexists(path):
        return
    if not os.path.isfile(path):
        raise DataError(f"{path!r} is not a regular file; choose another --db")
    try:
        with open(path, "rb") as file:
            header = file.read(100)
    except OSError as error:
        raise DataError(f"cannot read {path!r}: {error.strerror or error}") from None
    from .adapters.sqlite import APPLICATION_ID

    ours = (
        len(header) == 100
        and header.startswith(_SQLITE_HEADER)
        and int.from_bytes(header[68:72], "big") == APPLICATION_ID
    )
    if header and not ours:
        raise DataError(
            f"{path!r} exists and is not a livechat-core store; not replacing it "
            "(choose another --db)"
        )
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise DataError(f"cannot replace {path + suffix!r}: {error.strerror}") from None


def _simulate(args: argparse.Namespace) -> int:
    from ._simulation import ShiftConfig, simulate
    from .adapters.memory import MemoryStore
    from .adapters.sqlite import SqliteStore
    from .ports import Store

    try:
        config = ShiftConfig(
            seed=args.seed, agents=args.agents, minutes=args.minutes, arrival_rate=args.arrival_rate
        )
    except LivechatError as error:
        raise UsageError(f"{PROGRAM} simulate: {error.message}") from None
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise DataError("--plot needs matplotlib: pip install 'livechat-core[plots]'") from None
    outputs: list[tuple[TextIO, str]] = []
    store: Store
    try:
        json_file = _open_output(args.json) if args.json else None
        if json_file is not None:
            outputs.append((json_file, args.json))
        events_file = _open_output(args.events) if args.events else None
        if events_file is not None:
            outputs.append((events_file, args.events))
        if args.db == ":memory:":
            store, where = MemoryStore(), "in memory"
        else:
            _fresh_sqlite(args.db)
            try:
                # a throwaway demo file: skip the fsync of every commit (WAL keeps it safe
                # from a crash of the process; only a power cut could lose the last commits)
                store = SqliteStore(args.db, synchronous="NORMAL")
            except LivechatError as error:
                raise DataError(f"cannot open {args.db!r}: {error.message}") from None
            where = f"in {args.db} (SQLite)"

        on_event: Callable[[Event], None] | None = None
        if events_file is not None:
            write = events_file.write

            export_policy = MaskingPolicy(enabled=not args.unmasked_events)

            def on_event(event: Event) -> None:
                record = mask_event_record(event_to_record(event), export_policy)
                with _writing(args.events):
                    write(json.dumps(record, ensure_ascii=False) + "\n")

        bar = ProgressBar("simulating", _progress_enabled(args.progress))
        try:
            report = simulate(
                config,
                store=store,
                on_event=on_event,
                progress=lambda fraction: bar.update(fraction),
            )
        finally:
            bar.close()
            close = getattr(store, "close", None)
            if close is not None:
                close()
        if json_file is not None:
            with _writing(args.json):
                json_file.write(report.to_json() + "\n")
        if args.plot is not None:
            # drawn in memory, then written: a failing disk is reported like any other file
            image = io.BytesIO()
            kind = os.path.splitext(args.plot)[1].lstrip(".").lower() or "png"
            try:
                report.plot().savefig(image, format=kind)
            except ValueError as error:
                raise DataError(f"cannot draw {args.plot!r}: {error}") from None
            with _writing(args.plot), open(args.plot, "wb") as plot_file:
                plot_file.write(image.getvalue())
    finally:
        for output, path in outputs:
            with _writing(path):
                output.close()
    out = _stdout()
    print(f"Simulated shift, desk kept {where}\n", file=out)
    width = min(100, shutil.get_terminal_size((100, 24)).columns)
    print(report.format(width), end="", file=out)
    written = [
        f"{label} {path}"
        for label, path in (("report", args.json), ("events", args.events), ("plot", args.plot))
        if path
    ]
    if written:
        print("\nWrote " + ", ".join(written) + ".", file=out)
    return 0


# --------------------------------------------------------------------------- report


def _when(text: str) -> float:
    """POSIX seconds, or an ISO 8601 date and time (UTC unless it names an offset)."""
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a date and time such as 2026-01-01T09:00 (UTC) or POSIX seconds, "
                f"not {text!r}"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite time, not {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text}")
    return value


def _report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="contact-center figures of a stored desk: service level, ASA, AHT, occupancy",
        description=(
            "Read a desk's SQLite file and print its contact-center figures for the chats "
            "started in a window: overall and per queue (offered, handled, abandoned, "
            "service level, ASA, abandonment, AHT), per agent (legs, RONA, busy time, "
            "occupancy) and per interval. Text by default; --json for everything as JSON, "
            "--csv for one table (--by)."
        ),
    )
    report.add_argument(
        "--db", required=True, metavar="FILE", help="the desk's SQLite file (not changed)"
    )
    report.add_argument(
        "--since", type=_when, metavar="WHEN", help="chats started at or after WHEN (UTC)"
    )
    report.add_argument("--until", type=_when, metavar="WHEN", help="chats started before WHEN")
    report.add_argument(
        "--threshold",
        type=_seconds,
        default=20.0,
        metavar="SECONDS",
        help="service-level target: answered within SECONDS (default 20)",
    )
    report.add_argument(
        "--interval",
        type=_positive_float,
        default=15.0,
        metavar="MINUTES",
        help="length of a trend interval (default 15)",
    )
    output = report.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the whole report as JSON")
    output.add_argument("--csv", action="store_true", help="one table as CSV (see --by)")
    report.add_argument(
        "--by",
        choices=("queue", "agent", "interval"),
        default="queue",
        help="the table --csv writes: one row per queue (the first: all), agent or interval",
    )
    report.add_argument(
        "--output", "-o", metavar="FILE", help="write to FILE instead of standard output"
    )
    report.set_defaults(run=_report, parser=report)


def _open_store_for_reading(path: str) -> Any:
    """A :class:`SqliteStore` on an existing livechat-core file; never creates one."""
    from .adapters.sqlite import APPLICATION_ID, SqliteStore

    if not os.path.exists(path):
        raise DataError(f"cannot read {path!r}: no such file")
    if not os.path.isfile(path):
        raise DataError(f"cannot read {path!r}: not a regular file")
    try:
        with open(path, "rb") as file:
            header = file.read(100)
    except OSError as error:
        raise DataError(f"cannot read {path!r}: {error.strerror or error}") from None
    if not (
        len(header) == 100
        and header.startswith(_SQLITE_HEADER)
        and int.from_bytes(header[68:72], "big") == APPLICATION_ID
    ):
        raise DataError(f"{path!r} is not a livechat-core store")
    try:
        return SqliteStore(path)
    except LivechatError as error:
        raise DataError(f"cannot open {path!r}: {error.message}") from None


def _report_csv(report: Any, by: str, out: TextIO) -> None:
    import attrs

    from ._report import FIGURE_FIELDS, AgentFigures

    writer = csv.writer(out, lineterminator="\n")
    if by == "queue":
        writer.writerow(["queue", *FIGURE_FIELDS])
        rows = [("all", report.figures), *report.by_queue.items()]
        for name, figures in rows:
            writer.writerow([name, *(_csv_value(getattr(figures, f)) for f in FIGURE_FIELDS)])
    elif by == "agent":
        fields = [field.name for field in attrs.fields(AgentFigures)]
        writer.writerow(fields)
        for agent in report.by_agent.values():
            writer.writerow([_csv_value(getattr(agent, f)) for f in fields])
    else:
        writer.writerow(["start", "end", *FIGURE_FIELDS])
        for interval in report.intervals:
            writer.writerow(
                [
                    _iso(interval.start),
                    _iso(interval.end),
                    *(_csv_value(getattr(interval.figures, f)) for f in FIGURE_FIELDS),
                ]
            )


def _csv_value(value: Any) -> str:
    return "" if value is None else str(value)


def _iso(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat()


def _report(args: argparse.Namespace) -> int:
    from ._desk import Desk

    store = _open_store_for_reading(args.db)
    try:
        try:
            report = Desk(store=store).report(
                since=args.since,
                until=args.until,
                service_level_threshold=args.threshold,
                interval=args.interval * 60,
            )
        except InvalidArgument as error:
            raise UsageError(f"{PROGRAM} report: {error.message}") from None
        except LivechatError as error:
            raise DataError(f"cannot read {args.db!r}: {error.message}") from None
    finally:
        store.close()
    out = _open_output(args.output) if args.output else _stdout()
    try:
        with _writing(args.output or "<stdout>") if args.output else contextlib.nullcontext():
            if args.json:
                out.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
            elif args.csv:
                _report_csv(report, args.by, out)
            else:
                width = min(120, shutil.get_terminal_size((100, 24)).columns)
                out.write(report.format(width))
    finally:
        if args.output:
            with _writing(args.output):
                out.close()
    return 0


# --------------------------------------------------------------------------- mask


class _Masker:
    """Masks strings under a policy and counts what it masked, per kind."""

    def __init__(self, policy: MaskingPolicy) -> None:
        self.policy = policy
        self.counts: Counter[str] = Counter()

    def text(self, text: str) -> str:
        if not self.policy.enabled:
            return text
        masked = mask_text(text, self.policy)
        if masked != text:  # most lines hold nothing: count only when something changed
            self.counts.update(finding.kind for finding in find_sensitive(text, self.policy))
        return masked

    def value(self, value: Any) -> Any:
        """Mask every string in a JSON value (integers too: a card number may be one)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            digits = str(value)
            masked = self.text(digits)
            return value if masked == digits else masked
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return value


class _Malformed(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class _Reporter:
    """Reports malformed lines on stderr; fatal or skipped by ``--on-error``."""

    def __init__(self, skip: bool, bar: ProgressBar) -> None:
        self.skip = skip
        self.bar = bar
        self.skipped = 0

    def __call__(self, problem: _Malformed) -> None:
        if not self.skip:
            raise DataError(f"{problem}") from None
        self.skipped += 1
        if self.skipped <= _MAX_REPORTED:
            self.bar.close()
            print(f"{PROGRAM} mask: skipped {problem}", file=sys.stderr)


def _binary_input(path: str) -> tuple[IO[bytes], int | None]:
    if path == "-":
        if sys.stdin is None or sys.stdin.closed:
            raise DataError("standard input is closed; name a file or pipe text in")
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:  # a replaced sys.stdin without bytes underneath
            return io.BytesIO(sys.stdin.read().encode("utf-8")), None
        return buffer, None
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed by the caller
        size = os.fstat(file.fileno()).st_size
    except OSError as error:
        raise DataError(f"cannot read {path!r}: {error.strerror or error}") from None
    if os.path.isdir(path):
        file.close()
        raise DataError(f"cannot read {path!r}: it is a directory")
    return file, size


def _lines(source: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    try:
        yield from enumerate(source, 1)
    except OSError as error:
        raise DataError(f"reading failed: {error.strerror or error}") from None


def _decode(number: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Malformed(number, f"not UTF-8 (byte {error.start + 1})") from None


def _mask_text_lines(
    source: IO[bytes], out: TextIO, masker: _Masker, report: _Reporter, tick: Callable[[int], None]
) -> int:
    count = 0
    for number, raw in _lines(source):
        count = number
        tick(number)
        try:
            line = _decode(number, raw)
        except _Malformed as problem:
            report(problem)
            continue
        out.write(masker.text(line))
    return count


def _mask_jsonl(
    source: IO[bytes],
    out: TextIO,
    masker: _Masker,
    report: _Reporter,
    tick: Callable[[int], None],
    fields: Sequence[str] | None,
) -> int:
    count = 0
    checked_fields: Sequence[str] | None = None
    for number, raw in _lines(source):
        count = number
        tick(number)
        try:
            line = _decode(number, raw)
            if number == 1:
                line = line.removeprefix("\ufeff")  # a byte-order mark is not JSON
            body = line.rstrip("\r\n")
            if not body.strip():
                out.write(line)
                continue
            try:
                record = json.loads(body)
            except json.JSONDecodeError as error:
                raise _Malformed(number, f"not JSON ({error.msg}, column {error.colno})") from None
            except ValueError as error:  # an integer longer than Python converts
                raise _Malformed(number, f"not JSON ({error})") from None
            except RecursionError:
                raise _Malformed(number, "not JSON (nested too deeply)") from None
            if fields is not None and not isinstance(record, dict):
                raise _Malformed(number, f"expected a JSON object, got {type(record).__name__}")
        except _Malformed as problem:
            report(problem)
            continue
        if fields is None:
            masked = masker.value(record)
        else:
            if checked_fields is None:
                # like a CSV header: the first record names the fields; a field it lacks is a
                # mistake (a card under "text" would be copied through under --field message)
                missing = [field for field in fields if field not in record]
                if missing:
                    known = ", ".join(map(repr, record)) or "none"
                    raise UsageError(
                        f"{PROGRAM} mask: no field {', '.join(map(repr, missing))} in the first "
                        f"JSON Lines record (line {number}); its fields: {known}"
                    )
                checked_fields = fields
            masked = dict(record)
            for field in fields:
                if field in masked:
                    masked[field] = masker.value(masked[field])
        if masked == record and type(masked) is type(record):
            out.write(line)  # untouched lines keep their exact bytes
        else:
            out.write(_json_line(masked) + line[len(body) :])
    return count


def _json_line(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escape ("\ud800"): keep it escaped
        return json.dumps(value)
    return text


def _mask_csv(
    source: IO[bytes],
    out: TextIO,
    masker: _Masker,
    report: _Reporter,
    tick: Callable[[int], None],
    fields: Sequence[str] | None,
    delimiter: str,
) -> int:
    # utf-8-sig: spreadsheet exports start with a byte-order mark that is not a column name
    text = io.TextIOWrapper(source, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        return _mask_csv_rows(text, out, masker, report, tick, fields, delimiter)
    finally:
        text.detach()  # the caller closes the file (or leaves stdin open)


class _Replayable:
    """The physical lines of a text stream, for ``csv.reader``, with the lines of the record
    being read kept aside: when a record turns out malformed, only its first line is
    dropped and the lines it swallowed (an unclosed quote runs to the end of the input)
    are read again."""

    def __init__(self, text: TextIO) -> None:
        self._text = text
        self._again: list[str] = []
        self.taken: list[str] = []
        self.line = 0  # physical lines handed out, for error messages

    def __iter__(self) -> _Replayable:
        return self

    def __next__(self) -> str:
        try:
            line = self._again.pop() if self._again else next(self._text)
        except OSError as error:
            raise DataError(f"reading failed: {error.strerror or error}") from None
        self.taken.append(line)
        self.line += 1
        return line

    def record_done(self) -> None:
        self.taken.clear()

    def drop_first_line_of_record(self) -> int:
        """Skip the malformed record's first line; returns its number."""
        first = self.line - len(self.taken) + 1
        rest = self.taken[1:]
        self._again.extend(reversed(rest))
        self.line -= len(rest)
        self.taken.clear()
        return first


def _mask_csv_rows(
    text: TextIO,
    out: TextIO,
    masker: _Masker,
    report: _Reporter,
    tick: Callable[[int], None],
    fields: Sequence[str] | None,
    delimiter: str,
) -> int:
    lines = _Replayable(text)
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")

    def reader() -> Iterator[list[str]]:
        return csv.reader(lines, delimiter=delimiter, strict=True)

    rows = 0
    records = reader()
    try:
        header = next(records, None)
    except csv.Error as error:
        raise DataError(f"line {lines.line}: not CSV ({error})") from None
    lines.record_done()
    if header is None:
        return 0
    if any(_has_surrogates(cell) for cell in header):
        raise DataError("line 1: the CSV header is not UTF-8")
    if fields is None:
        chosen = list(range(len(header)))
    else:
        missing = [field for field in fields if field not in header]
        if missing:
            raise UsageError(
                f"{PROGRAM} mask: no column {', '.join(map(repr, missing))} in the CSV header "
                f"(columns: {', '.join(header)})"
            )
        chosen = [index for index, name in enumerate(header) if name in fields]
    writer.writerow(header)
    while True:
        first_line = lines.line + 1
        try:
            row = next(records)
        except StopIteration:
            break
        except csv.Error as error:
            # a broken quote or an oversized field: skip the record's first line and read
            # on from the next one with a fresh reader (the old one may be mid-field)
            number = lines.drop_first_line_of_record()
            records = reader()
            report(_Malformed(number, f"not CSV ({error})"))
            continue
        lines.record_done()
        rows += 1
        tick(lines.line)
        try:
            if len(row) != len(header):
                raise _Malformed(
                    first_line, f"{len(row)} fields where the header has {len(header)}"
                )
            if any(_has_surrogates(cell) for cell in row):
                raise _Malformed(first_line, "not UTF-8")
        except _Malformed as problem:
            report(problem)
            continue
        for index in chosen:
            row[index] = masker.text(row[index])
        writer.writerow(row)
    return rows


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)


def _mask(args: argparse.Namespace) -> int:
    try:
        policy = MaskingPolicy(
            enabled=not args.off,
            kinds=args.kinds if args.kinds is not None else ALL_KINDS,
            keep_card_bin=args.keep_card_bin,
        )
    except LivechatError as error:
        raise UsageError(f"{PROGRAM} mask: {error.message}") from None
    if args.field is not None and args.format == "text":
        raise UsageError(f"{PROGRAM} mask: --field needs --format jsonl or csv")
    source, size = _binary_input(args.file)
    bar = ProgressBar("masking", _progress_enabled(args.progress))
    masker = _Masker(policy)
    report = _Reporter(args.on_error == "skip", bar)

    def tick(line: int) -> None:
        if bar.enabled and line % 1000 == 0:
            fraction = None
            if size:
                try:
                    fraction = source.tell() / size
                except (OSError, ValueError):
                    fraction = None
            bar.update(fraction, f"{line:,} lines")

    out = _stdout()
    try:
        if args.format == "text":
            lines = _mask_text_lines(source, out, masker, report, tick)
            unit = "lines"
        elif args.format == "jsonl":
            lines = _mask_jsonl(source, out, masker, report, tick, args.field)
            unit = "lines"
        else:
            lines = _mask_csv(source, out, masker, report, tick, args.field, args.delimiter)
            unit = "rows"
        out.flush()
    finally:
        bar.close()
        if source is not getattr(sys.stdin, "buffer", None):
            source.close()
    if report.skipped > _MAX_REPORTED:
        print(
            f"{PROGRAM} mask: … and {report.skipped - _MAX_REPORTED} more malformed lines skipped",
            file=sys.stderr,
        )
    if not policy.enabled:
        summary = f"masking off: {lines:,} {unit} copied unchanged"
    else:
        kinds = [kind for kind in ("card", "iban", "ssn", "email", "phone") if kind in policy.kinds]
        total = sum(masker.counts.values())
        summary = f"masked {total:,} items in {lines:,} {unit}: " + ", ".join(
            f"{kind} {masker.counts[kind]:,}" for kind in kinds
        )
    if report.skipped:
        summary += f"; {report.skipped:,} malformed skipped"
    print(f"{PROGRAM} mask: {summary}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- diagram


def _diagram(args: argparse.Namespace) -> int:
    text = mermaid(MACHINES[args.machine])
    _stdout().write(f"```mermaid\n{text}```\n" if args.fenced else text)
    return 0


# --------------------------------------------------------------------------- serve


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, not {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 0 and 65535, not {value}")
    return value


def _serve(args: argparse.Namespace) -> int:
    try:
        from .service import serve
    except ImportError as error:
        raise DataError(
            f"the service needs the 'service' extra ({error.name} is missing): "
            "pip install 'livechat-core[service]'"
        ) from None
    try:
        serve(
            host=args.host,
            port=args.port,
            store=args.store,
            masking=args.masking,
            locale=args.locale,
            demo=args.demo,
            tick_interval=args.tick_interval,
        )
    except OSError as error:
        raise DataError(
            f"cannot serve on {args.host}:{args.port}: {error.strerror or error}"
        ) from None
    return 0


# --------------------------------------------------------------------------- entry point


def _stdout() -> TextIO:
    """Standard output, or a :class:`DataError` when there is none to write to."""
    out = sys.stdout
    if out is None or out.closed:
        raise DataError("standard output is closed; redirect it to a file or a pipe")
    return out


@contextlib.contextmanager
def _writing(path: str) -> Iterator[None]:
    """Name ``path`` in the error when writing or closing it fails (a full disk)."""
    try:
        yield
    except OSError as error:
        raise DataError(f"cannot write {path!r}: {error.strerror or error}") from None


def _say(message: str) -> None:
    """One line on standard error, if standard error can take it."""
    try:
        if sys.stderr is not None:
            print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    """After standard output failed: point it at /dev/null, so the interpreter's own flush
    at exit neither fails again nor prints a second error."""
    try:
        fileno = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)


def _flush_stdout() -> None:
    if sys.stdout is not None and not sys.stdout.closed:
        sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    No failure shows a traceback: bad arguments exit 2 with one line naming the problem;
    unreadable or malformed input and output that cannot be written (a full disk, no
    permission, standard output closed) exit 1 with one line; a reader that goes away
    (``| head``) ends the run quietly.
    """
    parser = build_parser()
    try:
        try:
            args, extras = parser.parse_known_args(argv)
        except SystemExit as exit_:  # --help and --version
            _flush_stdout()
            return exit_.code if isinstance(exit_.code, int) else 0
        if args.command is None:
            if extras:
                parser.error(f"unrecognized arguments: {' '.join(extras)}")
            parser.error("a command is required")
        if extras:  # reported by the command's parser, which names the command
            args.parser.error(f"unrecognized arguments: {' '.join(extras)}")
        status: int = args.run(args)
        _flush_stdout()
        return status
    except UsageError as error:
        _say(str(error))
        return 2
    except ServiceUsageError as error:
        _say(f"{PROGRAM}: error: {error}")
        return 2
    except (DataError, ServiceDataError) as error:
        _say(f"{PROGRAM}: error: {error}")
        return 1
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, without a second error at exit
        _silence_stdout()
        return 1
    except OSError as error:
        # what is left is standard output failing: a full disk, a revoked permission
        _silence_stdout()
        _say(f"{PROGRAM}: error: cannot write the output: {error.strerror or error}")
        return 1
    except KeyboardInterrupt:
        _say(f"{PROGRAM}: interrupted")
        return 130
    except LivechatError as error:
        _say(f"{PROGRAM}: error: {error}")
        return 1
