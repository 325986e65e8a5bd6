"""The service commands of the command line: ``relay`` and ``worker``.

Both open a store (a SQLite file that must exist, or a PostgreSQL DSN), log their
progress to standard error through the ``livechat_core`` logger, and stop cleanly on
SIGTERM or SIGINT (exit status 0): the relay after the batch in flight (an unfinished
batch is published again by the next relay, under the same event ids), the worker
after the tick in flight.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ._desk import Desk
from ._errors import LivechatError
from ._events import Event
from ._events import to_record as event_to_record
from ._relay import Relay, Worker, stopping_on_signals
from .ports import Store, Transport


class ServiceUsageError(Exception):
    """Bad arguments for a service command: exit status 2."""


class ServiceDataError(Exception):
    """A store or transport that cannot be opened: exit status 1."""


def _is_postgres(target: str) -> bool:
    return target.startswith(("postgres://", "postgresql://")) or (
        "=" in target and any(key in target for key in ("host=", "dbname=", "user=", "port="))
    )


def open_store(target: str, schema: str) -> Store:
    """The store ``target`` names: a PostgreSQL DSN or URI, else an existing SQLite file."""
    try:
        if _is_postgres(target):
            try:
                from .adapters.postgres import PostgresStore
            except ImportError as error:
                raise ServiceUsageError(
                    "a PostgreSQL store needs the postgres extra: "
                    "pip install 'livechat-core[postgres]'"
                ) from error
            return PostgresStore(target, schema=schema)
        if not os.path.isfile(target):
            raise ServiceDataError(f"no store file {target!r} (a desk creates it)")
        from .adapters.sqlite import SqliteStore

        return SqliteStore(target)
    except LivechatError as error:
        raise ServiceDataError(f"cannot open the store: {error}") from error


class _JsonLines:
    """A transport that writes each event's record as a JSON line (``--transport -``)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            self.stream.write(json.dumps(event_to_record(event), ensure_ascii=False) + "\n")
        self.stream.flush()


def open_transport(args: argparse.Namespace) -> Transport:
    """The transport ``--transport`` names."""
    target: str = args.transport
    if target == "-":
        return _JsonLines(sys.stdout)
    if target.startswith(("redis://", "rediss://", "unix://")):
        try:
            from .adapters.redis import RedisStreamTransport
        except ImportError as error:
            raise ServiceUsageError(
                "a Redis transport needs the redis extra: pip install 'livechat-core[redis]'"
            ) from error
        return RedisStreamTransport(target, stream=args.stream, maxlen=args.maxlen)
    if target.startswith(("http://", "https://")):
        from .adapters.webhook import WebhookTransport, jsonl_dead_letter

        secret = os.environ.get(args.secret_env, "")
        if not secret:
            raise ServiceUsageError(
                f"a webhook needs its signing secret in the environment variable {args.secret_env}"
            )
        return WebhookTransport(
            target,
            secret,
            max_attempts=args.max_attempts,
            dead_letter=None if args.dead_letter is None else jsonl_dead_letter(args.dead_letter),
        )
    raise ServiceUsageError(
        f"--transport must be a redis://, rediss:// or unix:// URL (Redis Streams), "
        f"an http(s):// URL (webhook) or '-' (JSON lines on standard output), not {target!r}"
    )


def _setup_logging(level: str) -> None:
    logger = logging.getLogger("livechat_core")
    if not any(getattr(h, "_livechat_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler._livechat_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)


def _run_until_stopped(target: Any, transport: Transport | None, stop: threading.Event) -> None:
    """Run ``target.run(stop)`` in a thread until it ends or a signal sets ``stop``."""
    thread = threading.Thread(target=target.run, args=(stop,), name="livechat-service")
    thread.start()
    while thread.is_alive():
        if stop.wait(0.2):
            close = getattr(transport, "close", None)
            if close is not None:  # a webhook stops waiting for its retries
                close()
            thread.join()
        else:
            thread.join(0.0)


def run_relay(args: argparse.Namespace) -> int:
    """``livechat-core relay``."""
    _setup_logging(args.log_level)
    stop = threading.Event()
    with stopping_on_signals(stop):  # from the start: a stop while opening is clean too
        transport = open_transport(args)
        store = open_store(args.store, args.schema)
        try:
            relay = Relay(
                store,
                transport,
                name=args.name,
                batch_size=args.batch,
                poll_interval=args.interval,
            )
            logging.getLogger("livechat_core").info(
                "relay %s starting on %r, transport %r", args.name, store, transport
            )
            _run_until_stopped(relay, transport, stop)
        finally:
            store.close()
    return 0


def run_worker(args: argparse.Namespace) -> int:
    """``livechat-core worker``."""
    _setup_logging(args.log_level)
    stop = threading.Event()
    with stopping_on_signals(stop):
        store = open_store(args.store, args.schema)
        try:
            # the worker fires deadlines with the settings the store was set up with
            desk = Desk(store=store, adopt_stored_settings=True)
            worker = Worker(desk, interval=args.interval)
            logging.getLogger("livechat_core").info("worker starting on %r", store)
            _run_until_stopped(worker, None, stop)
        finally:
            store.close()
    return 0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text!r}")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        required=True,
        help="a SQLite file (it must exist) or a PostgreSQL DSN or postgresql:// URI",
    )
    parser.add_argument(
        "--schema", default="livechat", help="PostgreSQL schema of the store (default livechat)"
    )
    parser.add_argument(
        "--interval",
        type=_positive_float,
        default=1.0,
        help="seconds between looks (relay: when idle; worker: between ticks); default 1",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="what to log on standard error (default INFO)",
    )


def add_service_commands(commands: Any) -> None:
    """Add ``relay`` and ``worker`` to the command line's subparsers."""
    relay = commands.add_parser(
        "relay",
        help="publish the store's events to Redis Streams or a webhook",
        description=(
            "Publish every stored event, in order, to a transport, resuming from the "
            "position saved under --name. Several relays of one name may run: one "
            "publishes, the others take over if it stops. PostgreSQL writers wake it "
            "(LISTEN/NOTIFY); on SQLite it polls every --interval seconds."
        ),
    )
    _common(relay)
    relay.add_argument(
        "--transport",
        required=True,
        help="redis://host:port/db or unix:///path/redis.sock (Redis Streams), "
        "http(s)://… (webhook), or - (JSON lines on standard output)",
    )
    relay.add_argument("--name", default="relay", help="the consumer name (default relay)")
    relay.add_argument(
        "--batch", type=_positive_int, default=500, help="events per publish (default 500)"
    )
    relay.add_argument(
        "--stream", default="livechat:events", help="Redis stream key (default livechat:events)"
    )
    relay.add_argument(
        "--maxlen", type=_positive_int, default=None, help="trim the Redis stream to about N"
    )
    relay.add_argument(
        "--secret-env",
        default="LIVECHAT_WEBHOOK_SECRET",
        help="environment variable holding the webhook signing secret "
        "(default LIVECHAT_WEBHOOK_SECRET)",
    )
    relay.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=8,
        help="webhook deliveries tried per event before the dead letter (default 8)",
    )
    relay.add_argument(
        "--dead-letter",
        metavar="FILE",
        default=None,
        help="append undeliverable webhook events to this JSON-lines file",
    )
    relay.set_defaults(run=run_relay, parser=relay)

    worker = commands.add_parser(
        "worker",
        help="fire deadlines (offer and wrap-up timeouts) as they fall due",
        description=(
            "Tick the desk every --interval seconds: expired offers time out (RONA) and "
            "wrap-ups close. Several workers may run: each deadline fires once."
        ),
    )
    _common(worker)
    worker.set_defaults(run=run_worker, parser=worker)
