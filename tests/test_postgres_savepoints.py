"""PostgreSQL's savepoints in a ``desk.batch()`` block: each command's savepoint (and each
save's own) is released once the command is done, so a block of any length keeps at most
one open on the server.

A new scope used to overwrite the release the scope before still owed: every savepoint
stayed open inside the one before, and a block of 120 commands ended 140 subtransactions
deep. The server is asked directly: ``RELEASE SAVEPOINT`` succeeds once per savepoint
still open.
"""

from __future__ import annotations

import psycopg
import pytest

from batch_support import lifecycle, one_agent_desk
from livechat_core import UnknownConversation
from livechat_core.adapters.postgres import PostgresStore


class _Probed(Exception):
    """Leaves the block once the probe aborted its transaction."""


def _open_savepoints(connection: psycopg.Connection[object], name: str) -> int:
    """How many savepoints called ``name`` are open (the transaction is aborted after:
    the probe ends with a failed ``RELEASE``; releasing one releases those in it)."""
    released = 0
    while True:
        try:
            connection.execute(f"RELEASE SAVEPOINT {name}".encode())
        except psycopg.errors.InvalidSavepointSpecification:
            return released
        released += 1


@pytest.mark.parametrize(("name", "most"), [("livechat_save", 0), ("livechat_command", 1)])
def test_a_long_block_keeps_at_most_one_savepoint_open(
    postgres_dsn: str, name: str, most: int
) -> None:
    with PostgresStore(postgres_dsn) as store:
        desk = one_agent_desk(store)
        counts: list[int] = []

        def block() -> None:
            with desk.batch():
                for number in range(20):  # 120 commands
                    lifecycle(desk, number)
                    with pytest.raises(UnknownConversation):  # refused: rolled back to
                        desk.accept("ann", "no-such-chat")
                counts.append(_open_savepoints(desk._local.batch.connection, name))
                raise _Probed

        with pytest.raises(_Probed):
            block()
        # at most the last command's (released by the commit); 120 or more were open
        assert counts == [most]
