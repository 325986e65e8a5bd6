"""``async with desk.batch()``: the async group commit of SPEC sections 10 and 11."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from livechat_core import AsyncDesk, Desk, LivechatError, SqliteStore


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "desk.db"
    store = SqliteStore(str(path))
    setup = Desk(store=store)
    setup.add_queue("support", ["Resolved"])
    store.close()
    return path


def stored_chats(path: Path) -> int:
    """How many chats another connection sees: what is committed."""
    store = SqliteStore(str(path))
    try:
        return len(store.conversation_ids())
    finally:
        store.close()


def test_a_block_is_one_commit_at_its_end(db: Path) -> None:
    async def scenario() -> tuple[int, int, list[str]]:
        store = SqliteStore(str(db))
        async with AsyncDesk(store=store) as desk:
            async with desk.batch():
                chats = [
                    await desk.start_chat("support", f"Customer {n}", f"c{n}@example.com")
                    for n in range(3)
                ]
                # views inside the block see its commands; nobody else does yet
                inside = len([await desk.conversation(chat) for chat in chats])
                before_commit = stored_chats(db)
            after_commit = stored_chats(db)
        store.close()
        assert inside == 3
        return before_commit, after_commit, chats

    before_commit, after_commit, chats = asyncio.run(scenario())
    assert (before_commit, after_commit) == (0, 3)
    assert len(set(chats)) == 3


def test_a_refused_command_inside_changes_nothing_and_the_others_go_on(db: Path) -> None:
    async def scenario() -> str:
        store = SqliteStore(str(db))
        async with AsyncDesk(store=store) as desk:
            async with desk.batch():
                first = await desk.start_chat("support", "Jana Nováková", "+420 777 123 456")
                with pytest.raises(LivechatError) as refused:
                    await desk.start_chat("no such queue", "Karel", "k@example.com")
                await desk.send_customer_message(first, "Hello")
            view = await desk.conversation(first)
            assert [message.text for message in view.messages] == ["Hello"]
        store.close()
        return refused.value.code

    assert asyncio.run(scenario()) == "unknown_queue"
    assert stored_chats(db) == 1


def test_an_exception_leaving_the_block_rolls_back_the_whole_block(db: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(str(db))
        async with AsyncDesk(store=store) as desk:

            async def block() -> None:
                async with desk.batch():
                    await desk.start_chat("support", "Jana", "jana@example.com")
                    await desk.start_chat("support", "Karel", "karel@example.com")
                    raise KeyError("the caller changed its mind")

            with pytest.raises(KeyError):
                await block()
            # the desk goes on working after a rolled-back block
            await desk.start_chat("support", "Eva", "eva@example.com")
        store.close()

    asyncio.run(scenario())
    assert stored_chats(db) == 1


def test_other_coroutines_wait_for_the_block_and_are_not_rolled_back_with_it(db: Path) -> None:
    async def scenario() -> tuple[str, list[str]]:
        store = SqliteStore(str(db))
        order: list[str] = []
        async with AsyncDesk(store=store) as desk:
            block_open = asyncio.Event()

            async def outsider() -> str:
                await block_open.wait()
                chat = await desk.start_chat("support", "Outsider", "out@example.com")
                order.append("outsider acknowledged")
                return chat

            async def block() -> None:
                async with desk.batch():
                    await desk.start_chat("support", "Inside", "in@example.com")
                    block_open.set()
                    await asyncio.sleep(0.05)  # the outsider's call is waiting meanwhile
                    order.append("block ends")
                    raise RuntimeError("roll the block back")

            task = asyncio.create_task(outsider())
            with pytest.raises(RuntimeError):
                await block()
            outsider_chat = await task
            names = [
                (await desk.conversation(chat)).customer_name for chat in store.conversation_ids()
            ]
        store.close()
        return outsider_chat, order + names

    _, seen = asyncio.run(scenario())
    assert seen == ["block ends", "outsider acknowledged", "Outsider"]


def test_tasks_created_inside_the_block_belong_to_it(db: Path) -> None:
    async def scenario() -> int:
        store = SqliteStore(str(db))
        async with AsyncDesk(store=store) as desk, desk.batch():
            await asyncio.gather(
                *(desk.start_chat("support", f"C{n}", f"c{n}@example.com") for n in range(5))
            )
            assert stored_chats(db) == 0
            async with desk.batch():  # a nested block joins the outer one
                await desk.start_chat("support", "Nested", "n@example.com")
            assert stored_chats(db) == 0
        store.close()
        return stored_chats(db)

    assert asyncio.run(scenario()) == 6


def test_a_memory_desk_batches_inline() -> None:
    async def scenario() -> tuple[str, str]:
        desk = AsyncDesk()
        await desk.add_queue("support", ["Resolved"])

        async def block() -> None:
            async with desk.batch():
                await desk.start_chat("support", "Gone", "gone@example.com")
                raise ValueError("undo")

        with pytest.raises(ValueError, match="undo"):
            await block()
        async with desk.batch():
            chat = await desk.start_chat("support", "Kept", "kept@example.com")
        view = await desk.conversation(chat)
        return view.customer_name, view.state

    assert asyncio.run(scenario()) == ("Kept", "queued")
