"""Running the service: the store from a setting, demo queues, uvicorn."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Final

from .._async import AsyncDesk
from .._errors import InvalidArgument
from .._masking import MaskingPolicy
from ..ports import Store

DEMO_QUEUES: Final[dict[str, tuple[str, ...]]] = {
    "support": ("Resolved", "Follow-up needed", "Not resolved", "Wrong queue"),
    "billing": ("Payment explained", "Refund issued", "Escalated", "Not resolved"),
}
"""The queues ``livechat-core serve --demo`` adds to a store that lacks them, with their
wrap-up reasons."""

_POSTGRES_PREFIXES: Final = ("postgresql://", "postgres://")


def is_postgres(spec: str) -> bool:
    """Whether a ``--store`` setting names a PostgreSQL database: a ``postgresql://`` URL
    or a libpq ``key=value`` string (``host=... dbname=...``); anything else is a SQLite
    path."""
    if spec.startswith(_POSTGRES_PREFIXES):
        return True
    words = spec.split()
    return bool(words) and all("=" in word for word in words) and not os.path.exists(spec)


def open_store(spec: str) -> Store:
    """The store a ``--store`` setting names: PostgreSQL for a DSN (needs the
    ``postgres`` extra), else a SQLite file (created when missing)."""
    if not spec.strip():
        raise InvalidArgument("the store setting is empty; give a SQLite path or a DSN")
    if is_postgres(spec):
        from ..adapters.postgres import PostgresStore

        return PostgresStore(spec)
    from ..adapters.sqlite import SqliteStore

    return SqliteStore(spec)


async def seed_demo(desk: AsyncDesk) -> list[str]:
    """Add the :data:`DEMO_QUEUES` the desk lacks; returns the names added."""
    existing = {queue.name for queue in await desk.queues()}
    added = []
    for name, reasons in DEMO_QUEUES.items():
        if name not in existing:
            await desk.add_queue(name, reasons, offer_timeout=30.0)
            added.append(name)
    return added


def make_desk(store: Store, *, masking: bool = True, locale: str = "en") -> AsyncDesk:
    """The asynchronous desk the service runs on."""
    return AsyncDesk(store=store, masking=MaskingPolicy(enabled=masking), locale=locale)


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    store: str = "livechat.db",
    masking: bool = True,
    locale: str = "en",
    demo: bool = False,
    tick_interval: float = 0.5,
    log_level: str = "info",
) -> None:
    """Run the service with uvicorn until interrupted (``livechat-core serve``).

    Two desks share the ``store``: one runs the commands (on its own thread, committing
    the commands that arrive together in one transaction), the other, on its own
    connection, serves the views and the event log, so reads never queue between
    commands.
    """
    import uvicorn

    from ._app import create_app

    desk = make_desk(open_store(store), masking=masking, locale=locale)
    reader = None
    if store != ":memory:":
        reader = make_desk(open_store(store), masking=masking, locale=locale)

    async def on_startup() -> None:
        if demo:
            await seed_demo(desk)

    async def on_shutdown() -> None:
        for each in (desk, reader):
            if each is not None:
                await each.aclose()
                each.store.close()

    app = create_app(
        desk,
        reader=reader,
        tick_interval=tick_interval,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
    )
    # uvicorn stops gracefully on SIGTERM and then raises the signal again for the
    # handler it found; a handler that ignores it makes a clean stop exit with status 0.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda number, frame: None)
    uvicorn.run(app, host=host, port=port, log_level=log_level, lifespan="on")


@contextlib.contextmanager
def running(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a background thread; yields its base URL
    (``http://host:port``; port 0 picks a free one) and stops it on exit. For tests and
    scripts that want a real HTTP server in-process."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="livechat-service", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the service did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
