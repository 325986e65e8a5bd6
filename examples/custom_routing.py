"""A routing strategy of your own: prefer the agent with the fewest chats.

Run: ``python examples/custom_routing.py``
"""

from __future__ import annotations

from collections.abc import Sequence

from livechat_core import Agent, Conversation, Desk


class FewestChatsFirst:
    """Offer each chat to the eligible agent holding the fewest, ties by id."""

    def choose(self, conversation: Conversation, agents: Sequence[Agent]) -> Agent:
        return min(agents, key=lambda agent: (len(agent.holding), agent.id))


def main() -> None:
    desk = Desk(routing=FewestChatsFirst())
    desk.add_queue("sales", ["Sold", "Not interested"])
    desk.login("a1", "Alena", ["sales"], capacity=3)
    desk.login("a2", "Bohdan", ["sales"], capacity=3)
    desk.set_available("a1")
    desk.set_available("a2")
    chats = [desk.start_chat("sales", f"Customer {n}", "") for n in range(4)]
    for chat in chats:
        print(chat[:6], "→", desk.conversation(chat).legs[0].agent_id)
    print({agent.id: len(agent.holding) for agent in desk.agents()})


if __name__ == "__main__":
    main()
