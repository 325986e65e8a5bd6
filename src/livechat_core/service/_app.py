"""The reference service: the desk over HTTP and WebSockets, with the desktop and widget.

:func:`create_app` builds a Starlette application over an asynchronous desk:

* one HTTP endpoint per SPEC section 9 command and view (``docs/service.md`` lists them);
  a refusal comes back as the error's ``code`` and message with an HTTP status that
  says what kind of refusal it is (404 unknown, 403 not yours, 422 invalid input, 409
  not now, 503 try again);
* a WebSocket per agent (``/ws/agents/{agent_id}``) and per customer conversation
  (``/ws/chats/{conversation_id}``) fed from the store's event log by position (see
  :mod:`._hub`): a client that reconnects with ``?after=<last position>`` resumes without
  a gap or a duplicate;
* a background task fires expired deadlines (``desk.tick``) every ``tick_interval``
  seconds, so offers time out into RONA and wrap-ups submit themselves with nobody
  calling ``tick`` by hand;
* the agent desktop at ``/desk/`` and the customer widget at ``/widget/``: plain HTML,
  CSS and JavaScript from the package, no build step and nothing from a CDN.

Every customer item an agent's screen receives is masked on the server by the desk's
policy (:mod:`._views`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from .._async import AsyncDesk
from .._composer import fill_template
from .._errors import (
    CommandRefused,
    ComposerError,
    InvalidArgument,
    LivechatError,
    NotOwner,
    NotParticipant,
    RetriesExhausted,
    StoreError,
    UnknownAgent,
    UnknownConversation,
    UnknownQueue,
    UnknownWrapUpReason,
)
from .._events import Event, to_record
from .._machines import LegState
from .._masking import MaskingPolicy
from .._model import Conversation
from .._search import filter_options
from .._surfaces import render_surfaces
from . import _views as views
from ._hub import EventHub, PositionGone, agent_topic, conversation_topic

logger = logging.getLogger("livechat_core.service")

IDLE_REASONS: Final[tuple[str, ...]] = ("break", "lunch", "meeting", "training")
"""The idle reason codes the desktop offers by default (labels are translated there)."""

TEMPLATES: Final[dict[str, dict[str, str]]] = {
    "en": {
        "Greeting": "Hello <name>,\nthank you for contacting us. How can I help you?",
        "Order shipped": "Your order <order> has shipped; it should arrive on <date>.",
        "Goodbye": "Thank you for chatting with us, <name>. Have a nice day!",
    },
    "cs": {
        "Pozdrav": "Dobrý den, <name>,\nděkujeme, že jste nás kontaktovali. Jak vám mohu pomoci?",
        "Objednávka odeslána": "Vaše objednávka <order> byla odeslána; dorazí <date>.",
        "Rozloučení": "Děkujeme za rozhovor, <name>. Přejeme hezký den!",
    },
}
"""Message templates with ``<name>`` parameters, by language (the composer fills them)."""

# A template's ``<name>`` parameters (the composer's placeholder syntax).
_PLACEHOLDER: Final = re.compile(r"<([^<>\s]+)>")

# The HTTP status of each kind of error; the first class in the error's MRO wins.
_STATUS: Final[dict[type[LivechatError], int]] = {
    UnknownQueue: 404,
    UnknownAgent: 404,
    UnknownConversation: 404,
    NotOwner: 403,
    NotParticipant: 403,
    ComposerError: 422,
    UnknownWrapUpReason: 422,
    InvalidArgument: 422,
    RetriesExhausted: 503,
    CommandRefused: 409,
    StoreError: 500,
}


def status_of(error: LivechatError) -> int:
    """The HTTP status a refusal comes back with."""
    for cls in type(error).__mro__:
        status = _STATUS.get(cls)
        if status is not None:
            return status
    return 400


class BadRequest(ValueError):
    """A request that is not the JSON object an endpoint takes: HTTP 400 with the body of
    an :class:`InvalidArgument` (code ``invalid_argument``). Not a library error of its own:
    it never leaves the service."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def as_error(self) -> InvalidArgument:
        """The library error whose body the client gets."""
        return InvalidArgument(self.message)


class Service:
    """The running service's state: the desk, the event hub and the deadline task."""

    def __init__(
        self,
        desk: AsyncDesk,
        *,
        reader: AsyncDesk | None,
        tick_interval: float,
        poll_interval: float,
        idle_reasons: Sequence[str],
        templates: Mapping[str, Mapping[str, str]],
        buffer: int,
        heartbeat: float,
    ) -> None:
        self.desk = desk
        self.reader = desk if reader is None else reader
        self.masking: MaskingPolicy = desk.masking
        self.hub = EventHub(self.reader.events_after, capacity=buffer, poll_interval=poll_interval)
        self.tick_interval = tick_interval
        self.idle_reasons = tuple(idle_reasons)
        self.templates = {lang: dict(found) for lang, found in templates.items()}
        self.heartbeat = heartbeat
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.hub.start()
        self._ticker = asyncio.create_task(self._tick_forever(), name="livechat-deadlines")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.hub.stop()

    async def _tick_forever(self) -> None:
        """Fire expired deadlines (offer timeouts into RONA, automatic wrap-ups)."""
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                events = await self.desk.tick()
            except LivechatError:
                # Another desk on the same store won the race for the same deadline, or
                # the store is briefly unavailable: the next round tries again.
                logger.warning("firing deadlines failed; retrying", exc_info=True)
                continue
            if events:
                self.hub.poke()

    async def run(self, command: Awaitable[Any]) -> Any:
        """Run a desk command and wake the hub so its events reach the sockets at once."""
        try:
            return await command
        finally:
            self.hub.poke()

    def now(self) -> float:
        return float(self.desk.clock())


# --- request parsing ----------------------------------------------------------------------


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _text(body: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise BadRequest(f"{name!r} must be a string" + ("" if name in body else " (missing)"))
    return value


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    return _text(body, name)


def _number(body: Mapping[str, Any], name: str, default: float | None) -> float | None:
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{name!r} must be a number")
    return float(value)


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{name!r} must be true or false")
    return value


def _texts(body: Mapping[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"{name!r} must be a list of strings")
    return list(value)


def _after(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"'after' must be a whole number, not {text!r}") from None
    if value < 0:
        raise BadRequest("'after' must not be negative")
    return value


def _service(request: Request | WebSocket) -> Service:
    service: Service = request.app.state.service
    return service


def _events(events: Sequence[Event]) -> JSONResponse:
    return JSONResponse({"events": [views.event_brief(event) for event in events]})


Endpoint = Callable[[Request], Awaitable[Response]]


def _command(
    run: Callable[[Service, Request, dict[str, Any]], Awaitable[Sequence[Event]]],
) -> Endpoint:
    """An endpoint that parses the JSON body, runs one desk command and lists its events."""

    async def endpoint(request: Request) -> Response:
        service = _service(request)
        body = await _body(request)
        events = await service.run(run(service, request, body))
        return _events(events)

    return endpoint


# --- queues and agents ---------------------------------------------------------------------


async def add_queue(request: Request) -> Response:
    service = _service(request)
    body = await _body(request)
    offer_timeout = _number(body, "offer_timeout", 30.0)
    events = await service.run(
        service.desk.add_queue(
            _text(body, "name"),
            _texts(body, "wrap_up_reasons"),
            offer_timeout=30.0 if offer_timeout is None else offer_timeout,
            wrap_up_timeout=_number(body, "wrap_up_timeout", None),
            default_wrap_up_reason=_optional_text(body, "default_wrap_up_reason"),
        )
    )
    return _events(events)


async def list_queues(request: Request) -> Response:
    """Every queue (the transfer dialog's list), filtered by ``?q=``."""
    queues = await _service(request).reader.queues()
    queues = filter_options(queues, request.query_params.get("q"))
    return JSONResponse({"queues": [views.queue_json(queue) for queue in queues]})


async def login(request: Request) -> Response:
    service = _service(request)
    body = await _body(request)
    capacity = body.get("capacity", 1)
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise BadRequest("'capacity' must be a whole number")
    events = await service.run(
        service.desk.login(
            _text(body, "agent_id"), _text(body, "name"), _texts(body, "queues"), capacity
        )
    )
    return _events(events)


async def list_agents(request: Request) -> Response:
    """Every agent, or with ``?available=true`` those a chat can go to (other than
    ``?exclude=``); filtered by ``?q=``."""
    desk = _service(request).reader
    params = request.query_params
    if params.get("available", "").lower() in ("1", "true", "yes"):
        agents = await desk.available_agents(exclude=params.get("exclude") or None)
    else:
        agents = await desk.agents()
    agents = filter_options(agents, params.get("q"))
    return JSONResponse({"agents": [views.agent_json(agent) for agent in agents]})


async def get_agent(request: Request) -> Response:
    agent = await _service(request).reader.agent(request.path_params["agent_id"])
    return JSONResponse(views.agent_json(agent))


async def get_offers(request: Request) -> Response:
    """The agent's pending offers: what the request popover shows, masked."""
    service = _service(request)
    agent_id = request.path_params["agent_id"]
    return JSONResponse({"offers": await _offers(service, agent_id)})


async def _offers(service: Service, agent_id: str) -> list[dict[str, Any]]:
    found = []
    for offer in await service.reader.offers(agent_id):
        conversation = await service.reader.conversation(offer.conversation_id)
        found.append(views.offer_json(offer, conversation, service.masking, service.hub.names))
    return found


async def desktop(request: Request) -> Response:
    """Everything an agent's desktop shows, masked, with the log position it reflects (a
    socket opened with ``?after=`` that position misses nothing since)."""
    service = _service(request)
    desk = service.reader
    agent_id = request.path_params["agent_id"]
    position = service.hub.position
    agent = await desk.agent(agent_id)
    now = service.now()
    queues = {queue.name: queue for queue in await desk.queues()}
    offers = await _offers(service, agent_id)
    conversations = []
    for conversation_id in dict.fromkeys((*agent.holding, *agent.wrapping)):
        conversation = await desk.conversation(conversation_id)
        mine = conversation.leg_of(agent_id, LegState.ACTIVE, LegState.WRAPPING_UP)
        if mine is None:
            continue
        leg = mine[1]
        found = views.conversation_json(conversation, service.masking, now, service.hub.names)
        queue = queues.get(leg.queue)
        found["my_leg"] = views.leg_json(leg)
        found["wrap_up_reasons"] = [] if queue is None else list(queue.wrap_up_reasons)
        conversations.append(found)
    history = []
    for conversation_id in service.hub.history(agent_id):
        try:
            conversation = await desk.conversation(conversation_id)
        except UnknownConversation:
            continue  # archived out of the live store
        history.append(_history_tile(conversation, agent_id, service.masking))
    return JSONResponse(
        {
            "now": now,
            "position": position,
            "agent": views.agent_json(agent),
            "offers": offers,
            "conversations": conversations,
            "history": history,
            "masking": service.masking.enabled,
        }
    )


def _history_tile(conversation: Conversation, agent_id: str, policy: MaskingPolicy) -> Any:
    legs = [leg for leg in conversation.legs if leg.agent_id == agent_id and leg.wrapped_up_at]
    leg = legs[-1] if legs else None
    return {
        "id": conversation.id,
        "title": render_surfaces(conversation, policy).history_title,
        "queue": conversation.queue,
        "state": str(conversation.state),
        "outcome": None if conversation.outcome is None else str(conversation.outcome),
        "wrap_up_reason": None if leg is None else leg.wrap_up_reason,
        "wrapped_up_at": None if leg is None else leg.wrapped_up_at,
    }


async def _set_available(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.set_available(request.path_params["agent_id"])


async def _set_idle(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.set_idle(request.path_params["agent_id"], _text(body, "reason"))


async def _logout(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.logout(request.path_params["agent_id"])


# --- conversations (the agent's side) -------------------------------------------------------


def _cid(request: Request) -> str:
    value: str = request.path_params["conversation_id"]
    return value


async def get_conversation(request: Request) -> Response:
    """The conversation as an agent's screen shows it (masked), with its surfaces."""
    service = _service(request)
    conversation = await service.reader.conversation(_cid(request))
    return JSONResponse(
        views.conversation_json(conversation, service.masking, service.now(), service.hub.names)
    )


async def get_surfaces(request: Request) -> Response:
    """Every masked surface of SPEC section 6, by the desk's policy."""
    surfaces = await _service(request).reader.surfaces(_cid(request))
    return JSONResponse(attrs.asdict(surfaces))


async def _accept(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.accept(_text(body, "agent_id"), _cid(request))


async def _decline(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.decline(_text(body, "agent_id"), _cid(request))


async def _agent_message(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.send_agent_message(
        _text(body, "agent_id"), _cid(request), _text(body, "text")
    )


async def _transfer(service: Service, request: Request, body: dict[str, Any]) -> Any:
    agent_id = _text(body, "agent_id")
    if body.get("queue") is not None:
        if body.get("target_agent_id") is not None:
            raise BadRequest("transfer to a queue or to an agent, not both")
        return await service.desk.transfer_to_queue(agent_id, _cid(request), _text(body, "queue"))
    return await service.desk.transfer_to_agent(
        agent_id, _cid(request), _text(body, "target_agent_id")
    )


async def _conference(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.request_conference(
        _text(body, "agent_id"), _cid(request), _text(body, "guest_agent_id")
    )


async def _end_conference(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.end_conference(_text(body, "agent_id"), _cid(request))


async def _end(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.end(_text(body, "agent_id"), _cid(request))


async def _wrap_up(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.submit_wrap_up(
        _text(body, "agent_id"), _cid(request), _text(body, "reason"), _text(body, "notes", "")
    )


async def _delete_asset(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.delete_asset(request.path_params["asset"])


async def _tick(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.tick(_number(body, "now", None))


async def list_templates(request: Request) -> Response:
    """The composer's message templates in ``?lang=`` (default English), with their
    parameters."""
    service = _service(request)
    lang = request.query_params.get("lang", "en")
    templates = service.templates.get(lang) or service.templates.get("en", {})
    found = [
        {
            "name": name,
            "text": text,
            "parameters": list(dict.fromkeys(_PLACEHOLDER.findall(text))),
        }
        for name, text in templates.items()
    ]
    return JSONResponse({"templates": found})


async def fill(request: Request) -> Response:
    """Fill a template's parameters under the composer rules (the text the composer gets)."""
    body = await _body(request)
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise BadRequest("'parameters' must be an object")
    return JSONResponse({"text": fill_template(_text(body, "template"), parameters)})


async def settings(request: Request) -> Response:
    """What the desktop needs to know about the service."""
    service = _service(request)
    return JSONResponse(
        {
            "idle_reasons": list(service.idle_reasons),
            "masking": service.masking.enabled,
            "max_message_length": 1000,
            "now": service.now(),
        }
    )


async def events_after(request: Request) -> Response:
    """``desk.events_after``: the log after ``?after=`` (neutral event records; for
    integrations, not for agents' screens: nothing here is masked)."""
    after = _after(request.query_params.get("after")) or 0
    try:
        limit = int(request.query_params.get("limit", "1000"))
    except ValueError:
        raise BadRequest("'limit' must be a whole number") from None
    if not 1 <= limit <= 10_000:
        raise BadRequest("'limit' must be between 1 and 10000")
    found = await _service(request).reader.events_after(after, limit)
    return JSONResponse(
        {"events": [{"position": position, **to_record(event)} for position, event in found]}
    )


# --- the customer's side -------------------------------------------------------------------


async def start_chat(request: Request) -> Response:
    """The widget starts a chat; the answer has the id and the position to follow from."""
    service = _service(request)
    body = await _body(request)
    position = service.hub.position
    conversation_id = await service.run(
        service.desk.start_chat(
            _text(body, "queue"),
            _text(body, "customer_name"),
            _text(body, "customer_contact", ""),
            proactive=_flag(body, "proactive"),
            asset=_text(body, "asset", "livechat"),
        )
    )
    return JSONResponse({"id": conversation_id, "position": position}, status_code=201)


async def get_chat(request: Request) -> Response:
    """The customer's view of their chat, with the log position it reflects."""
    service = _service(request)
    position = service.hub.position
    conversation = await service.reader.conversation(_cid(request))
    return JSONResponse({**views.chat_json(conversation, service.hub.names), "position": position})


async def _customer_message(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.send_customer_message(_cid(request), _text(body, "text"))


async def _customer_end(service: Service, request: Request, body: dict[str, Any]) -> Any:
    return await service.desk.customer_end(_cid(request))


# --- sockets --------------------------------------------------------------------------------


SocketCommand = Callable[[Service, dict[str, Any]], Awaitable[Any]]


async def _stream(
    websocket: WebSocket,
    topic: str,
    frame: Callable[[int, Event], dict[str, Any]],
    commands: Mapping[str, SocketCommand],
) -> None:
    """Send the frames a reader wants from ``?after=`` on (the current position when
    absent) until the client goes away, and run the commands the client sends.

    A command frame is ``{"command": name, "ref": anything, ...arguments}``; its answer is
    ``{"reply": ref, "events": [...]}`` or ``{"reply": ref, "error": {...}}`` (the same
    error body as over HTTP). Commands run in the order they arrive.
    """
    service = _service(websocket)
    try:
        after = _after(websocket.query_params.get("after"))
    except BadRequest as error:
        await websocket.close(code=1008, reason=error.message)
        return
    await websocket.accept()
    position = service.hub.position if after is None else after
    sending = asyncio.Lock()  # one frame at a time, from the feed and the replies

    async def send_json(data: dict[str, Any]) -> None:
        async with sending:
            await websocket.send_json(data)

    async def feed() -> None:
        nonlocal position
        while True:
            try:
                async for cursor, entry in service.hub.follow(position, topic, service.heartbeat):
                    position = cursor
                    if entry is None:
                        await send_json({"position": cursor})
                    else:
                        await send_json(frame(cursor, entry.event))
            except PositionGone as gone:
                position = gone.head
                await send_json({"reset": True, "position": gone.head})

    async def receive() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await send_json(
                    await _run_socket_command(service, commands, await websocket.receive_text())
                )

    sender = asyncio.create_task(feed())
    receiver = asyncio.create_task(receive())
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
        for task in (sender, receiver):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close()


async def _run_socket_command(
    service: Service, commands: Mapping[str, SocketCommand], text: str
) -> dict[str, Any]:
    ref: Any = None
    try:
        try:
            body = json.loads(text)
        except ValueError:
            raise BadRequest("a command frame is a JSON object") from None
        if not isinstance(body, dict):
            raise BadRequest("a command frame is a JSON object")
        ref = body.get("ref")
        name = body.get("command")
        run = commands.get(name) if isinstance(name, str) else None
        if run is None:
            raise BadRequest(f"unknown command {name!r}; this socket takes {sorted(commands)}")
        events = await service.run(run(service, body))
    except BadRequest as error:
        return {"reply": ref, **views.error_json(error.as_error())}
    except LivechatError as error:
        return {"reply": ref, **views.error_json(error)}
    return {"reply": ref, "events": [views.event_brief(event) for event in events]}


def _agent_commands(agent_id: str) -> dict[str, SocketCommand]:
    """What an agent's socket takes: the agent's own commands (the agent is the socket's)."""

    def cid(body: dict[str, Any]) -> str:
        return _text(body, "conversation_id")

    return {
        "set_available": lambda s, b: s.desk.set_available(agent_id),
        "set_idle": lambda s, b: s.desk.set_idle(agent_id, _text(b, "reason")),
        "accept": lambda s, b: s.desk.accept(agent_id, cid(b)),
        "decline": lambda s, b: s.desk.decline(agent_id, cid(b)),
        "send_message": lambda s, b: s.desk.send_agent_message(agent_id, cid(b), _text(b, "text")),
        "transfer_to_agent": lambda s, b: s.desk.transfer_to_agent(
            agent_id, cid(b), _text(b, "target_agent_id")
        ),
        "transfer_to_queue": lambda s, b: s.desk.transfer_to_queue(
            agent_id, cid(b), _text(b, "queue")
        ),
        "request_conference": lambda s, b: s.desk.request_conference(
            agent_id, cid(b), _text(b, "guest_agent_id")
        ),
        "end_conference": lambda s, b: s.desk.end_conference(agent_id, cid(b)),
        "end": lambda s, b: s.desk.end(agent_id, cid(b)),
        "submit_wrap_up": lambda s, b: s.desk.submit_wrap_up(
            agent_id, cid(b), _text(b, "reason"), _text(b, "notes", "")
        ),
    }


def _customer_commands(conversation_id: str) -> dict[str, SocketCommand]:
    """What a customer's socket takes: messages and the end of the chat."""
    return {
        "send_message": lambda s, b: s.desk.send_customer_message(
            conversation_id, _text(b, "text")
        ),
        "end": lambda s, b: s.desk.customer_end(conversation_id),
    }


async def agent_socket(websocket: WebSocket) -> None:
    """``/ws/agents/{agent_id}?after=N``: the agent's events and those of the conversations
    they have a leg in, masked; takes the agent's commands."""
    service = _service(websocket)
    agent_id = websocket.path_params["agent_id"]

    def frame(position: int, event: Event) -> dict[str, Any]:
        return views.agent_frame(position, event, service.masking, service.hub.names)

    await _stream(websocket, agent_topic(agent_id), frame, _agent_commands(agent_id))


async def chat_socket(websocket: WebSocket) -> None:
    """``/ws/chats/{conversation_id}?after=N``: the events of the customer's conversation;
    takes the customer's messages and the end of the chat."""
    service = _service(websocket)
    conversation_id = websocket.path_params["conversation_id"]

    def frame(position: int, event: Event) -> dict[str, Any]:
        return views.customer_frame(position, event, service.hub.names)

    await _stream(
        websocket,
        conversation_topic(conversation_id),
        frame,
        _customer_commands(conversation_id),
    )


# --- the application ------------------------------------------------------------------------


async def _refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, LivechatError)
    status = status_of(error)
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse(views.error_json(error), status_code=status, headers=headers)


async def _malformed(request: Request, error: Exception) -> Response:
    assert isinstance(error, BadRequest)
    return JSONResponse(views.error_json(error.as_error()), status_code=400)


def routes() -> list[BaseRoute]:
    """Every route of the service (``docs/service.md`` describes them)."""
    post = ["POST"]
    agent = "/api/agents/{agent_id}"
    conversation = "/api/conversations/{conversation_id}"
    chat = "/api/chats/{conversation_id}"
    return [
        Route("/api/settings", settings),
        Route("/api/queues", list_queues),
        Route("/api/queues", add_queue, methods=post),
        Route("/api/agents", list_agents),
        Route("/api/agents", login, methods=post),
        Route(agent, get_agent),
        Route(f"{agent}/offers", get_offers),
        Route(f"{agent}/desktop", desktop),
        Route(f"{agent}/available", _command(_set_available), methods=post),
        Route(f"{agent}/idle", _command(_set_idle), methods=post),
        Route(f"{agent}/logout", _command(_logout), methods=post),
        Route(conversation, get_conversation),
        Route(f"{conversation}/surfaces", get_surfaces),
        Route(f"{conversation}/accept", _command(_accept), methods=post),
        Route(f"{conversation}/decline", _command(_decline), methods=post),
        Route(f"{conversation}/messages", _command(_agent_message), methods=post),
        Route(f"{conversation}/transfer", _command(_transfer), methods=post),
        Route(f"{conversation}/conference", _command(_conference), methods=post),
        Route(f"{conversation}/end-conference", _command(_end_conference), methods=post),
        Route(f"{conversation}/end", _command(_end), methods=post),
        Route(f"{conversation}/wrap-up", _command(_wrap_up), methods=post),
        Route("/api/assets/{asset}", _command(_delete_asset), methods=["DELETE"]),
        Route("/api/tick", _command(_tick), methods=post),
        Route("/api/events", events_after),
        Route("/api/templates", list_templates),
        Route("/api/templates/fill", fill, methods=post),
        Route("/api/chats", start_chat, methods=post),
        Route(chat, get_chat),
        Route(f"{chat}/messages", _command(_customer_message), methods=post),
        Route(f"{chat}/end", _command(_customer_end), methods=post),
        WebSocketRoute("/ws/agents/{agent_id}", agent_socket),
        WebSocketRoute("/ws/chats/{conversation_id}", chat_socket),
        Mount(
            "/",
            app=StaticFiles(packages=[("livechat_core.service", "static")], html=True),
            name="static",
        ),
    ]


def create_app(
    desk: AsyncDesk,
    *,
    reader: AsyncDesk | None = None,
    tick_interval: float = 0.5,
    poll_interval: float = 0.25,
    idle_reasons: Sequence[str] = IDLE_REASONS,
    templates: Mapping[str, Mapping[str, str]] | None = None,
    buffer: int = 50_000,
    heartbeat: float = 15.0,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> Starlette:
    """The service as an ASGI application over ``desk`` (an :class:`AsyncDesk`).

    Args:
        desk: the desk that runs the commands; its masking policy masks every agent's
            screen.
        reader: a desk on the same store (another connection to the same file or
            database) for the views and the event log, so reads do not queue between
            the commands and the commands commit in groups; ``None`` → ``desk``.
        tick_interval: seconds between two rounds of firing expired deadlines.
        poll_interval: seconds between two reads of the event log when no command of
            this process woke the reader (commands of other processes on the same store
            reach the sockets within this delay).
        idle_reasons: the idle reason codes of the desktop's state selector.
        templates: message templates by language (``{"en": {name: text}}``); ``None`` →
            :data:`TEMPLATES`.
        buffer: how many recent events sockets can resume from.
        heartbeat: seconds without a frame after which a socket sends its position.
        on_startup: awaited when the application starts, before the log is read (to
            add queues, say).
        on_shutdown: awaited when the application stops (to close the desk's store).
    """

    service = Service(
        desk,
        reader=reader,
        tick_interval=tick_interval,
        poll_interval=poll_interval,
        idle_reasons=idle_reasons,
        templates=TEMPLATES if templates is None else templates,
        buffer=buffer,
        heartbeat=heartbeat,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        await service.start()
        try:
            yield
        finally:
            await service.stop()
            if on_shutdown is not None:
                await on_shutdown()

    app = Starlette(
        routes=routes(),
        lifespan=lifespan,
        exception_handlers={LivechatError: _refused, BadRequest: _malformed},
    )
    app.state.service = service
    return app
