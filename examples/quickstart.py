"""The article's walk-through on a desk: accept, reply, transfer, conference, end.

Run: ``python examples/quickstart.py``
"""

from __future__ import annotations

from livechat_core import Desk, filter_options


class Clock:
    """A hand-moved clock, so the printed timer is predictable."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def main() -> None:
    clock = Clock()
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved", "Escalated", "Callback promised"])
    desk.login("jana", "Jana Nováková", ["support"])
    desk.login("petr", "Petr Svoboda", ["support"], capacity=2)
    desk.set_available("jana")

    # A customer starts a chat; Jana is available, so the request pops up for her.
    chat = desk.start_chat("support", "Karel Novák", "karel.novak@example.com")
    desk.send_customer_message(chat, "Hello, my parcel has not arrived.")
    (offer,) = desk.offers("jana")
    print(f"request for {offer.agent_name}: {offer.customer_name} in {offer.queue}")

    desk.accept("jana", chat)
    clock.now += 42
    desk.send_agent_message("jana", chat, "Hello Karel, let me check that for you.")
    print(f"timer: {desk.conversation(chat).elapsed(clock.now):.0f} s since acceptance")

    # Jana invites Petr, found with the dialog's search filter.
    desk.set_available("petr")
    (petr,) = filter_options(desk.available_agents(exclude="jana"), "svob")
    desk.request_conference("jana", chat, petr.id)
    desk.accept("petr", chat)
    print(desk.conversation(chat).messages[-1].text)
    desk.end_conference("jana", chat)
    desk.submit_wrap_up("petr", chat, "Resolved")

    # The customer leaves; Jana ends the chat with a wrap-up reason and notes.
    desk.customer_end(chat)
    print(desk.conversation(chat).messages[-1].text)
    desk.end("jana", chat)
    (reason,) = filter_options(desk.queues()[0].wrap_up_reasons, "resolv")
    desk.submit_wrap_up("jana", chat, reason, notes="parcel re-sent")
    view = desk.conversation(chat)
    print(f"{view.state}, outcome {view.outcome}, {len(desk.events(chat))} events")


if __name__ == "__main__":
    main()
