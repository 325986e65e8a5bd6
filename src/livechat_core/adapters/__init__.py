"""Store adapters: in memory, SQLite (the embedded default) and PostgreSQL; and the
in-process transports (in memory, callback).

Each is chosen by the caller (``Desk(store=SqliteStore("desk.db"))``); the core never
imports one. The PostgreSQL adapter needs the ``postgres`` extra (psycopg 3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .memory import MemoryStore
from .sqlite import SqliteStore
from .transports import CallbackTransport, MemoryTransport

if TYPE_CHECKING:
    from .postgres import PostgresStore


def __getattr__(name: str) -> object:
    if name == "PostgresStore":  # needs psycopg: imported only when asked for
        from .postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module 'livechat_core.adapters' has no attribute {name!r}")


__all__ = ["CallbackTransport", "MemoryStore", "MemoryTransport", "PostgresStore", "SqliteStore"]
