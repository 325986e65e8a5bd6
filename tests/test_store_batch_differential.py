"""Inside ``desk.batch()`` blocks the durable stores still agree with the reference.

The SQLite store writes the agents and conversations a block saves once, just before the
block's commit (``docs/performance.md``, group commit), and answers every read inside the
block from them: lookups by key, routing (``routable``, ``queued``), deadlines (``due``,
``due_after``), open chats of an asset, queue members, conversation ids. This drives the
same commands, valid and refused, on a desk over the memory store and one over each real
store, with blocks opened and closed at random, and compares the desks after every step
(views inside a block read through the block, so they see its unwritten records) and the
whole stored state after every block.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.stateful import invariant, rule

from livechat_core import Desk
from test_store_differential import StoresAgree


class StoresAgreeInBatches(StoresAgree):
    """:class:`StoresAgree` with the sync desks' commands in ``desk.batch()`` blocks."""

    label = "batch_differential"
    async_faces = False  # the async face batches by itself: tested in its own suites

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[contextlib.ExitStack] = []
        self._open_blocks()  # every command runs in a block; commit_block starts the next

    def teardown(self) -> None:
        self._close_blocks()
        super().teardown()

    def _close_blocks(self) -> None:
        blocks, self.blocks = self.blocks, []
        for block in blocks:
            block.close()

    def _open_blocks(self) -> None:
        for desk in self.desks:
            block = contextlib.ExitStack()
            block.enter_context(desk.batch())
            self.blocks.append(block)

    @rule()
    def commit_block(self) -> None:
        self._close_blocks()
        # After the commit, the whole stored state, read around the desks.
        views = [self._view(desk) for desk in self.desks]
        for view in views[1:]:
            assert view == views[0]
        self._open_blocks()

    @invariant()
    def same_state(self) -> None:
        views = [self._in_block(desk) for desk in self.desks]
        for view in views[1:]:
            assert view == views[0]

    def _in_block(self, desk: Desk) -> Any:
        """What the desk shows through the block (the stores' outboxes and logs are read
        outside it: compared once the block is committed)."""
        return {
            "conversations": [desk.conversation(chat) for chat in self.chats],
            "agents": desk.agents(),
            "available": desk.available_agents(),
            "queues": desk.queues(),
            "offers": [desk.offers(agent.id) for agent in desk.agents()],
        }


StoresAgreeInBatches.TestCase.settings = settings(
    max_examples=int(os.environ.get("LIVECHAT_DIFFERENTIAL_EXAMPLES", "25")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStoresAgreeInBatches = StoresAgreeInBatches.TestCase
