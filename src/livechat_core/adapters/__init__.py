"""Store adapters: in memory, SQLite (the embedded default) and PostgreSQL.

Each is chosen by the caller (``Desk(store=SqliteStore("desk.db"))``); the core never
imports one. The PostgreSQL adapter needs the ``postgres`` extra (psycopg 3).
"""

from __future__ import annotations

from .memory import MemoryStore

__all__ = ["MemoryStore"]
