"""The reference service: the desk over HTTP and WebSockets, the agent desktop and the
customer widget (the ``service`` extra: ``pip install 'livechat-core[service]'``).

>>> from livechat_core.service import create_app      # doctest: +SKIP
>>> app = create_app(AsyncDesk(store=SqliteStore("desk.db")))   # any ASGI server runs it

``livechat-core serve`` runs it with uvicorn; ``docs/service.md`` describes every endpoint.
"""

from __future__ import annotations

from ._app import IDLE_REASONS, TEMPLATES, create_app, status_of
from ._serve import DEMO_QUEUES, open_store, running, seed_demo, serve

__all__ = [
    "DEMO_QUEUES",
    "IDLE_REASONS",
    "TEMPLATES",
    "create_app",
    "open_store",
    "running",
    "seed_demo",
    "serve",
    "status_of",
]
