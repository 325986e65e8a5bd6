"""No PostgreSQL call hangs: megabyte parameters and results cross one pipeline, and
every wait of the store ends in :class:`StoreTimeout` when the server does not answer.

Needs ``LIVECHAT_TEST_POSTGRES`` (see ``tests/conftest.py``).
"""

from __future__ import annotations

import os
import signal
import time

import attrs
import psycopg
import pytest

from livechat_core import Desk, StoreTimeout, UnknownQueue
from livechat_core.adapters.postgres import PostgresStore
from livechat_core.ports import Changes

pytestmark = pytest.mark.postgres

MEGABYTE = 1_000_000

# Far above what these round trips need on a busy machine, far below "forever": a store
# that deadlocks fails the test with StoreTimeout instead of hanging the run.
TIMEOUT = 60.0


def _chat_with_a_megabyte_message(desk: Desk) -> str:
    desk.add_queue("support", ["Resolved"])
    desk.login("a1", "Jana Nováková", ["support"])
    desk.set_available("a1")
    conversation_id = desk.start_chat("support", "Eva Malá", "eva@example.com")
    desk.accept("a1", conversation_id)
    # Ending in digits, the message stays in the conversation's record (which keeps the
    # newest messages masking at rest may look back over), so reading it reads a megabyte.
    desk.send_customer_message(conversation_id, "hello " * (MEGABYTE // 6) + "4711")
    return conversation_id


def test_a_megabyte_result_comes_back_while_megabyte_parameters_go_out(
    postgres_dsn: str,
) -> None:
    """The issue's deadlock at the port: one pipeline reads a conversation holding a
    megabyte message while the statements after it still send megabyte queue names;
    then a save sends the megabyte record back with the COMMIT."""
    big_queue = "q" * MEGABYTE
    with PostgresStore(postgres_dsn, timeout=TIMEOUT) as store:
        desk = Desk(store=store, max_customer_message_length=2 * MEGABYTE)
        conversation_id = _chat_with_a_megabyte_message(desk)
        with store.transaction() as txn:
            txn.prefetch(
                conversation_ids=[conversation_id], queues=[big_queue], routing=[big_queue]
            )
            conversation = txn.conversation(conversation_id)
            assert conversation is not None
            assert len(conversation.messages[-1].text) >= MEGABYTE - 6
            assert txn.queue(big_queue) is None
            assert txn.queued([big_queue], 10) == []
            grown = attrs.evolve(conversation, version=conversation.version + 1)
            txn.save_last(Changes(conversations=((grown, conversation.version),)))
        # Everything read back, and the connection still serves the next command.
        desk.send_customer_message(conversation_id, "still here")
        assert desk.conversation(conversation_id).messages[-1].text == "still here"


def test_a_megabyte_customer_message_then_a_transfer_returns(postgres_dsn: str) -> None:
    """The issue's reproduction through the desk: a 1 MB customer message, then a
    transfer of that chat; the command returns (here refused: no such queue)."""
    with PostgresStore(postgres_dsn, timeout=TIMEOUT) as store:
        desk = Desk(store=store, max_customer_message_length=2 * MEGABYTE)
        conversation_id = _chat_with_a_megabyte_message(desk)
        with pytest.raises(UnknownQueue):
            desk.transfer_to_queue("a1", conversation_id, "sales")
        desk.add_queue("sales", ["Sold"])
        desk.transfer_to_queue("a1", conversation_id, "sales")
        assert desk.conversation(conversation_id).queue == "sales"


def test_a_statement_past_the_timeout_is_a_store_timeout(postgres_dsn: str) -> None:
    """A writer blocked behind another one's lock for longer than the store's timeout
    gets StoreTimeout, and the store serves the next transaction."""
    with PostgresStore(postgres_dsn, timeout=1.0) as store:
        desk = Desk(store=store)
        desk.add_queue("support", ["Resolved"])
        with psycopg.connect(postgres_dsn) as holder:
            holder.execute("LOCK TABLE livechat.queues IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            with pytest.raises(StoreTimeout):
                desk.add_queue("support", ["Resolved", "Escalated"])
            assert time.monotonic() - started < 30
            holder.rollback()
        desk.add_queue("support", ["Resolved", "Escalated"])
        assert [q.wrap_up_reasons for q in desk.queues()] == [("Resolved", "Escalated")]


def test_a_server_that_stops_answering_is_a_store_timeout(postgres_dsn: str) -> None:
    """The client's own bound: a server process that stops (SIGSTOP) mid-command is given
    up on after twice the timeout, not waited for forever."""
    with PostgresStore(postgres_dsn, timeout=1.0) as store:
        desk = Desk(store=store)
        desk.add_queue("support", ["Resolved"])
        connection = store._connect()
        backend = connection.info.backend_pid
        try:
            os.kill(backend, signal.SIGSTOP)
        except PermissionError:
            pytest.skip("the server's processes belong to another user")
        try:
            started = time.monotonic()
            with pytest.raises(StoreTimeout):
                desk.add_queue("sales", ["Sold"])
            assert time.monotonic() - started < 30
        finally:
            os.kill(backend, signal.SIGCONT)
        desk.add_queue("sales", ["Sold"])
        assert [q.name for q in desk.queues()] == ["sales", "support"]
