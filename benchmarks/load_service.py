"""Load on the reference service: many customers and agents over WebSockets for a minute.

Run on demand (it is not a test)::

    .venv/bin/python benchmarks/load_service.py            # 200 customers, 20 agents, 60 s
    .venv/bin/python benchmarks/load_service.py --url http://host:8000   # a running service
    scripts/with-postgres.sh sh -c \
        '.venv/bin/python benchmarks/load_service.py --store "$LIVECHAT_TEST_POSTGRES"'

Without ``--url`` the script starts ``livechat-core serve`` in its own process on a fresh
SQLite file (or the ``--store`` given) and stops it afterwards, so the server and this
client do not share an interpreter.

Every agent logs in (HTTP) with room for its share of the chats and follows
``/ws/agents/{id}``; over that socket it goes available, accepts each offer as its frame
arrives and replies to every fourth customer message. Every customer starts a chat (HTTP),
follows ``/ws/chats/{id}`` and, once an agent accepted, sends a message over its socket
every ``1 / --rate`` seconds (with jitter). The latency of a message is from just before
the customer's socket sends it to the moment its ``MessagePosted`` frame reaches the
agent's socket: what the agent's screen gets.

Nothing may be lost: after the sending minute the script waits (``--drain`` seconds at
most) for every message the service acknowledged to reach its agent, and reports the
messages sent, acknowledged, received, lost (acknowledged, never received) and
duplicated (received twice), with p50 / p90 / p99 / max latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

QUEUE = "load"


@dataclass
class Figures:
    """What the run measured."""

    sent: dict[tuple[str, int], float] = field(default_factory=dict)  # (chat, n) → send time
    received: Counter[tuple[str, int]] = field(default_factory=Counter)
    acknowledged: set[tuple[str, int]] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    ack_latencies: list[float] = field(default_factory=list)
    timeline: list[tuple[float, float]] = field(default_factory=list)  # (sent, latency)
    failures: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    unaccepted: list[str] = field(default_factory=list)
    replies: int = 0
    frames: int = 0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


async def post(client: httpx.AsyncClient, figures: Figures, path: str, body: Any = None) -> Any:
    """A command; a refusal or a failure is counted by its code, never raised."""
    try:
        response = await client.post(path, json=body)
    except httpx.HTTPError as error:
        figures.failures[type(error).__name__] += 1
        return None
    if response.status_code >= 300:
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = f"http_{response.status_code}"
        figures.failures[code] += 1
        return None
    return response.json()


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://").replace("https://", "wss://") + path


async def agent(
    number: int, base: str, client: httpx.AsyncClient, figures: Figures, stop: asyncio.Event
) -> None:
    agent_id = f"agent-{number:02d}"
    view = (await client.get(f"/api/agents/{agent_id}/desktop")).json()
    async with connect(ws_url(base, f"/ws/agents/{agent_id}?after={view['position']}")) as ws:
        await command(ws, "set_available")
        await follow_agent(ws, figures, stop)


async def command(ws: ClientConnection, name: str, **arguments: Any) -> None:
    """Send a command over a socket (its reply arrives as a frame with ``reply``)."""
    await ws.send(json.dumps({"command": name, **arguments}))


async def follow_agent(ws: ClientConnection, figures: Figures, stop: asyncio.Event) -> None:
    """Accept every offer, record every customer message, reply to every fourth."""
    while not stop.is_set():
        try:
            raw = await asyncio.wait_for(ws.recv(), 0.5)
        except TimeoutError:
            continue
        arrived = time.perf_counter()
        frame = json.loads(raw)
        if "reply" in frame:
            if "error" in frame:
                figures.failures[frame["error"]["code"]] += 1
            continue
        if "type" not in frame:
            continue
        figures.frames += 1
        conversation_id = frame.get("aggregate_id")
        if frame["type"] == "ChatOffered":
            await command(ws, "accept", conversation_id=conversation_id)
        elif frame["type"] == "MessagePosted" and frame["message"]["role"] == "customer":
            text = frame["message"]["text"]
            if not text.startswith("load message "):
                continue
            n = int(text.rsplit(" ", 1)[1])
            key = (conversation_id, n)
            figures.received[key] += 1
            sent = figures.sent.get(key)
            if sent is not None and figures.received[key] == 1:
                figures.latencies.append(arrived - sent)
                figures.timeline.append((sent, arrived - sent))
            if n % 4 == 0:
                await command(
                    ws, "send_message", conversation_id=conversation_id, text=f"reply to {n}"
                )
                figures.replies += 1


async def customer(
    number: int,
    base: str,
    client: httpx.AsyncClient,
    figures: Figures,
    rate: float,
    sending: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    """Start a chat over HTTP; once accepted, send messages over the chat's socket."""
    started = await client.post(
        "/api/chats",
        json={
            "queue": QUEUE,
            "customer_name": f"Zákazník {number}",
            "customer_contact": f"customer{number}@example.com",
        },
    )
    if started.status_code != 201:
        figures.failures["start_chat"] += 1
        return
    chat = started.json()
    conversation_id = chat["id"]
    accepted = asyncio.Event()

    async def listen(ws: ClientConnection) -> None:
        while not stop.is_set():
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except TimeoutError:
                continue
            if "reply" in frame:
                key = (conversation_id, frame["reply"])
                if "error" in frame:
                    figures.failures[frame["error"]["code"]] += 1
                    figures.sent.pop(key, None)  # refused: not a message the agent sees
                elif key in figures.sent:
                    figures.acknowledged.add(key)
                    figures.ack_latencies.append(time.perf_counter() - figures.sent[key])
            elif frame.get("type") == "OfferAccepted":
                accepted.set()

    async with connect(ws_url(base, f"/ws/chats/{conversation_id}?after={chat['position']}")) as ws:
        listener = asyncio.create_task(listen(ws))
        waiting = [asyncio.create_task(event.wait()) for event in (accepted, stop)]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in waiting:
            task.cancel()
        if not accepted.is_set():
            figures.unaccepted.append(conversation_id)
        else:
            figures.accepted += 1
            await sending.wait()
            n = 0
            rng = random.Random(number)
            await asyncio.sleep(rng.uniform(0, 1 / rate))
            while not stop.is_set() and sending.is_set():
                n += 1
                figures.sent[(conversation_id, n)] = time.perf_counter()
                await command(ws, "send_message", ref=n, text=f"load message {n}")
                await asyncio.sleep(rng.uniform(0.5, 1.5) / rate)
        await stop.wait()
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def run(args: argparse.Namespace, base: str) -> Figures:
    figures = Figures()
    limits = httpx.Limits(
        max_connections=args.connections, max_keepalive_connections=args.connections
    )
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        queue = await client.post(
            "/api/queues", json={"name": QUEUE, "wrap_up_reasons": ["Done"], "offer_timeout": 300}
        )
        queue.raise_for_status()
        capacity = math.ceil(args.customers / args.agents)
        for number in range(args.agents):
            await post(
                client,
                figures,
                "/api/agents",
                {
                    "agent_id": f"agent-{number:02d}",
                    "name": f"Agent {number}",
                    "queues": [QUEUE],
                    "capacity": capacity,
                },
            )
        stop = asyncio.Event()
        sending = asyncio.Event()
        agents = [
            asyncio.create_task(agent(n, base, client, figures, stop)) for n in range(args.agents)
        ]
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        customers = [
            asyncio.create_task(customer(n, base, client, figures, args.rate, sending, stop))
            for n in range(args.customers)
        ]
        while figures.accepted < args.customers and time.perf_counter() - started < 60:
            await asyncio.sleep(0.1)
        took = time.perf_counter() - started
        print(
            f"{figures.accepted} of {args.customers} chats accepted in {took:.1f} s",
            file=sys.stderr,
        )
        sending.set()
        await asyncio.sleep(args.duration)
        sending.clear()
        drain_until = time.perf_counter() + args.drain
        while time.perf_counter() < drain_until:
            if all(figures.received[key] for key in figures.sent):
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.gather(*agents, *customers, return_exceptions=True)
    return figures


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def served(store: str | None) -> Iterator[str]:
    """``livechat-core serve`` in its own process; yields its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        path = store or os.path.join(directory, "load.db")
        process = subprocess.Popen(
            [sys.executable, "-m", "livechat_core", "serve", "--port", str(port), "--store", path],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{url}/api/settings", timeout=2).raise_for_status()
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        errors = process.stderr.read() if process.stderr else ""
                        raise SystemExit(f"the service did not start:\n{errors}") from None
                    time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def by_interval(timeline: list[tuple[float, float]], width: float) -> list[dict[str, Any]]:
    """p50 and p99 of the latency of the messages sent in each interval of the run."""
    if not timeline:
        return []
    start = min(sent for sent, _ in timeline)
    buckets: dict[int, list[float]] = {}
    for sent, latency in timeline:
        buckets.setdefault(int((sent - start) // width), []).append(1000 * latency)
    return [
        {
            "from_s": index * width,
            "messages": len(values),
            "p50": round(percentile(values, 0.5), 1),
            "p99": round(percentile(values, 0.99), 1),
        }
        for index, values in sorted(buckets.items())
    ]


def report(figures: Figures, args: argparse.Namespace, elapsed: float) -> dict[str, Any]:
    # Lost: acknowledged by the service, never on the agent's socket.
    lost = [key for key in figures.acknowledged if figures.received[key] == 0]
    duplicated = [key for key, count in figures.received.items() if count > 1]
    ms = [1000 * value for value in figures.latencies]
    acks = [1000 * value for value in figures.ack_latencies]
    return {
        "customers": args.customers,
        "agents": args.agents,
        "seconds": args.duration,
        "chats_accepted": figures.accepted,
        "chats_never_accepted": figures.unaccepted,
        "messages_sent": len(figures.sent),
        "messages_acknowledged": len(figures.acknowledged),
        "messages_received": sum(1 for key in figures.sent if figures.received[key]),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "agent_replies": figures.replies,
        "messages_per_second": round(len(figures.sent) / args.duration, 1),
        "latency_ms": {
            "p50": round(percentile(ms, 0.50), 1),
            "p90": round(percentile(ms, 0.90), 1),
            "p99": round(percentile(ms, 0.99), 1),
            "max": round(max(ms, default=math.nan), 1),
            "mean": round(statistics.fmean(ms), 1) if ms else math.nan,
        },
        "latency_ms_by_10_seconds": by_interval(figures.timeline, 10.0),
        "send_to_acknowledgement_ms": {
            "p50": round(percentile(acks, 0.5), 1),
            "p99": round(percentile(acks, 0.99), 1),
        },
        "refusals_or_failures": dict(figures.failures),
        "wall_seconds": round(elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running service (default: start one)")
    parser.add_argument(
        "--store", help="store of the started service (default: a fresh SQLite file)"
    )
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds of sending (default 60)"
    )
    parser.add_argument(
        "--rate", type=float, default=0.5, help="messages per customer per second (default 0.5)"
    )
    parser.add_argument("--drain", type=float, default=15.0, help="seconds to wait for stragglers")
    parser.add_argument(
        "--connections", type=int, default=64, help="HTTP connections of the client"
    )
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        base = args.url or stack.enter_context(served(args.store))
        figures = asyncio.run(run(args, base.rstrip("/")))
    result = report(figures, args, time.perf_counter() - started)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    return 0 if result["lost"] == 0 and result["duplicated"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
