"""Real servers for the service tests: a local HTTP endpoint and Redis servers of their own."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

from livechat_core import Desk, Event
from livechat_core.adapters.webhook import EVENT_ID_HEADER, SIGNATURE_HEADER

ROOT = pathlib.Path(__file__).resolve().parent.parent
REDIS_ENV = "LIVECHAT_TEST_REDIS"


@attrs.define
class Received:
    body: bytes
    signature: str | None
    event_id: str | None
    record: dict[str, Any]


class Endpoint:
    """A webhook endpoint on 127.0.0.1: records every POST it accepts.

    ``answer(n)`` decides the status of the ``n``-th request (1-based), 200 by default;
    ``delay`` seconds pass before each answer.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.requests = 0
        self.answer: Callable[[int], int] = lambda n: 200
        self.delay = 0.0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with endpoint._lock:
                    endpoint.requests += 1
                    number = endpoint.requests
                if endpoint.delay:
                    time.sleep(endpoint.delay)
                status = endpoint.answer(number)
                if status == 200:
                    with endpoint._lock:
                        endpoint.received.append(
                            Received(
                                body,
                                self.headers.get(SIGNATURE_HEADER),
                                self.headers.get(EVENT_ID_HEADER),
                                json.loads(body),
                            )
                        )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def ids(self) -> list[str]:
        with self._lock:
            return [item.record["id"] for item in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def busy_day(desk: Desk, chats: int, messages: int = 2) -> list[str]:
    """Chats with customer messages and agents answering; returns the conversation ids."""
    if not desk.queues():
        desk.add_queue("support", ["Resolved"])
        for n in range(4):
            desk.login(f"agent{n}", f"Agent {n}", ["support"], capacity=3)
            desk.set_available(f"agent{n}")
    ids = []
    for n in range(chats):
        chat = desk.start_chat("support", f"Customer {n}", f"c{n}@example.com")
        ids.append(chat)
        for m in range(messages):
            desk.send_customer_message(chat, f"secret text {n}-{m}")
    return ids


def delivered_in_order(received: list[str], stored: dict[str, list[str]]) -> None:
    """Every stored event id was received; per aggregate, first deliveries follow the
    stored order; anything received twice is a repeat of an id."""
    first: dict[str, list[str]] = {}
    seen: set[str] = set()
    for event_id in received:
        if event_id in seen:
            continue
        seen.add(event_id)
        aggregate = event_id.rsplit(":", 1)[0]
        first.setdefault(aggregate, []).append(event_id)
    expected = {f"{aggregate}": ids for aggregate, ids in stored.items()}
    assert first == expected


def stored_ids(events: list[Event]) -> dict[str, list[str]]:
    """Event ids by aggregate (``"conversation:<id>"``), in sequence order."""
    by: dict[str, list[str]] = {}
    for event in sorted(events, key=lambda e: (e.aggregate, e.aggregate_id, e.sequence)):
        by.setdefault(f"{event.aggregate}:{event.aggregate_id}", []).append(event.id)
    return by


def cli(*args: str, env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``livechat-core ARGS`` as a process (its own process group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "livechat_core", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
        **kwargs,
    )


def started(process: subprocess.Popen[str], marker: str = "starting") -> str:
    """Read ``process``'s standard error up to the line with ``marker`` (its signal
    handlers are installed by then); the lines read."""
    assert process.stderr is not None
    lines: list[str] = []
    while True:
        line = process.stderr.readline()
        if not line:
            raise AssertionError(f"the process ended before {marker!r}: {''.join(lines)}")
        lines.append(line)
        if marker in line:
            return "".join(lines)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for ``process`` to end by itself; its status, standard output and error."""
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    """Signal ``process`` and wait for it; its status, standard output and error."""
    if process.poll() is None:
        process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def kill_a_relay_mid_batch_and_restart(
    arguments: tuple[str, ...], endpoint: Endpoint, stored: list[Event], secret: str
) -> list[str]:
    """Start ``livechat-core`` with ``arguments`` (a relay posting to ``endpoint`` in
    batches of 50), SIGKILL it once it is past 75 events but not done, start it again
    and stop it cleanly once every event of ``stored`` arrived; the ids received, checked
    to hold every stored event in order per conversation and the unfinished batch twice."""
    environment = {"LIVECHAT_WEBHOOK_SECRET": secret}
    endpoint.delay = 0.005
    first = cli(*arguments, env=environment)
    wait_for(lambda: len(endpoint.ids()) >= 75, 60, "the first relay to be mid-batch")
    stop(first, signal.SIGKILL)
    assert len(endpoint.ids()) < len(stored)
    second = cli(*arguments, "--interval", "0.1", env=environment)
    wait_for(lambda: set(endpoint.ids()) >= {e.id for e in stored}, 120, "every event")
    status, _, err = stop(second)
    assert status == 0, err
    received = endpoint.ids()
    delivered_in_order(received, stored_ids(stored))
    assert len(received) > len(stored), "the unfinished batch was sent again"
    return received


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


class RedisServer:
    """A redis-server of the test's own, on a Unix socket, with an append-only file
    (``appendfsync always``), so a restart keeps every acknowledged entry."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def binary() -> str | None:
        return os.environ.get("LIVECHAT_REDIS_SERVER") or shutil.which("redis-server")

    def start(self) -> None:
        binary = self.binary()
        assert binary is not None
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.socket.exists, 20, "redis-server's socket")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None
        if self.socket.exists():
            self.socket.unlink()


def redis_servers(tmp: pathlib.Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp)
    server.start()
    try:
        yield server
    finally:
        server.stop()
