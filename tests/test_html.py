"""HTML for notebooks: transcripts as bubbles, agents, the desk; masked and escaped."""

from __future__ import annotations

import html.parser

import pytest

from livechat_core import Desk, MaskingPolicy
from livechat_core._html import agent_html, conversation_html, desk_html

START = 1_767_258_000.0  # 09:00:00 UTC


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class _Checker(html.parser.HTMLParser):
    """Collects the text and checks that every element that was opened is closed."""

    VOID = frozenset({"br", "hr", "img", "meta", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> _Checker:
    checker = _Checker()
    checker.feed(markup)
    checker.close()
    assert checker.stack == [], "unclosed elements"
    return checker


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(clock: Clock) -> Desk:
    desk = Desk(clock=clock, new_id=iter(f"chat-{n}" for n in range(1, 100)).__next__)
    desk.add_queue("support", ["Resolved", "Escalated"])
    desk.login("jana", "Jana Nováková", ["support"], capacity=2)
    desk.login("petr", "Petr Svoboda", ["support"])
    desk.set_available("jana")
    return desk


def test_transcript_bubbles_with_initials(desk: Desk, clock: Clock) -> None:
    chat = desk.start_chat("support", "Karel Novák", "karel@example.com")
    desk.send_customer_message(chat, "Hello,\nmy parcel is late.")
    desk.accept("jana", chat)
    clock.now += 65
    desk.send_agent_message("jana", chat, "Let me check that for you.")
    markup = conversation_html(desk.conversation(chat), now=clock.now)
    checker = parse(markup)
    text = "".join(checker.text)
    # customer: grey bubble with the customer's initials; agent: blue with the agent's
    assert "KN" in checker.text
    assert "JN" in checker.text
    assert "background: #eaeef2" in markup
    assert "background: #0969da" in markup
    assert "Hello,\nmy parcel is late." in text  # line breaks kept (pre-wrap)
    assert "white-space: pre-wrap" in markup
    # header: name, state, owner, queue, timer since acceptance
    assert "Karel Novák" in text
    assert "active" in text
    assert "Jana Nováková" in text
    assert "support" in text
    assert "⏱ 1:05" in text
    assert "09:00:00" in text  # message times


def test_system_messages_are_centred(desk: Desk) -> None:
    chat = desk.start_chat("support", "Karel Novák", "karel@example.com")
    desk.accept("jana", chat)
    desk.customer_end(chat)
    markup = conversation_html(desk.conversation(chat))
    assert "Customer ended the conversation" in markup
    centred = markup.split("text-align: center")[1]
    assert centred.index("Customer ended the conversation") < centred.index("</div>")
    assert "disconnected" in "".join(parse(markup).text)


def test_customer_data_is_masked_by_default(desk: Desk) -> None:
    chat = desk.start_chat("support", "+447966197542", "melissa@gmail.com")
    desk.send_customer_message(chat, "call me on + 1 (123) 456 7890 or write melissa@gmail.com")
    markup = conversation_html(desk.conversation(chat))
    text = "".join(parse(markup).text)
    assert "+447966197542" not in text
    assert "*********7542" in text  # the name is a phone number: masked as one
    assert "melissa@gmail.com" not in text
    assert "m******@gmail.com" in text
    assert "**********7890" in text


def test_a_number_split_over_messages_is_masked(desk: Desk) -> None:
    chat = desk.start_chat("support", "Karel Novák", "karel@example.com")
    desk.send_customer_message(chat, "my number is +44 7966")
    desk.send_customer_message(chat, "197542 thanks")
    text = "".join(parse(conversation_html(desk.conversation(chat))).text)
    assert "7966" not in text
    assert "**7542 thanks" in text


def test_masking_off_shows_everything(desk: Desk) -> None:
    chat = desk.start_chat("support", "Karel Novák", "melissa@gmail.com")
    desk.send_customer_message(chat, "write to melissa@gmail.com")
    markup = conversation_html(desk.conversation(chat), policy=MaskingPolicy(enabled=False))
    assert markup.count("melissa@gmail.com") == 2


def test_everything_is_escaped(desk: Desk) -> None:
    chat = desk.start_chat("support", "<script>alert(1)</script>", "x@example.com")
    desk.send_customer_message(chat, 'is <b>this</b> & that "quoted"?')
    desk.accept("jana", chat)
    markup = conversation_html(desk.conversation(chat), policy=MaskingPolicy(enabled=False))
    assert "<script>" not in markup
    assert "<b>this</b>" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    checker = parse(markup)
    assert "script" not in checker.tags
    assert 'is <b>this</b> & that "quoted"?' in "".join(checker.text)


def test_legs_and_wrap_up(desk: Desk, clock: Clock) -> None:
    chat = desk.start_chat("support", "Karel Novák", "karel@example.com", proactive=True)
    desk.accept("jana", chat)
    desk.end("jana", chat)
    desk.submit_wrap_up("jana", chat, "Resolved", notes="refund <sent>")
    text = "".join(parse(conversation_html(desk.conversation(chat), now=clock.now)).text)
    assert "closed" in text
    assert "outcome completed" in text
    assert "Resolved" in text
    assert "refund <sent>" in text
    assert "★ proactive" in text


def test_waiting_time_of_a_queued_chat(desk: Desk, clock: Clock) -> None:
    desk.set_idle("jana", "lunch")
    chat = desk.start_chat("support", "Karel Novák", "karel@example.com")
    text = "".join(parse(conversation_html(desk.conversation(chat), now=START + 42)).text)
    assert "waiting 0:42" in text
    assert "No messages yet." in text


def test_agent_card(desk: Desk) -> None:
    chat = desk.start_chat("support", "Karel Novák", "karel@example.com")
    desk.accept("jana", chat)
    text = "".join(parse(agent_html(desk.agent("jana"))).text)
    assert "Jana Nováková" in text
    assert "available" in text
    assert "1/2 chats" in text
    assert chat in text
    desk.set_idle("petr", "<training>")
    markup = agent_html(desk.agent("petr"))
    assert "&lt;training&gt;" in markup
    assert "idle" in "".join(parse(markup).text)


def test_desk_overview(desk: Desk, clock: Clock) -> None:
    held = desk.start_chat("support", "+447966197542", "karel@example.com")
    desk.accept("jana", held)
    desk.send_customer_message(held, "my e-mail is melissa@gmail.com")
    second = desk.start_chat("support", "Eva Malá", "eva@example.com")  # offered to jana
    desk.set_idle("jana", "break")  # withdraws the offer: the chat waits in its queue
    done = desk.start_chat("support", "Old Chat", "old@example.com")
    desk.customer_end(done)
    clock.now += 30
    markup = desk_html(desk)
    text = "".join(parse(markup).text)
    assert "Desk at 09:00:30 UTC" in text
    assert "Open conversations (2)" in text
    assert held in text
    assert second in text
    assert done not in text  # closed
    assert "*********7542" in text
    assert "m******@gmail.com" in text
    assert "melissa" not in text
    assert "⏱ 0:30" in text
    assert "waiting 0:30" in text
    assert "1/2" in text
    assert "(break)" in text
    shown = desk_html(desk, now=START + 90, policy=MaskingPolicy(enabled=False))
    assert "melissa@gmail.com" in shown
    assert "waiting 1:30" in shown


def test_empty_desk() -> None:
    text = "".join(parse(desk_html(Desk(clock=lambda: START))).text)
    assert "No queues." in text
    assert "Nobody logged in yet." in text
    assert "No open conversations." in text
