"""The source article, end to end in a real browser: two agents' desktops and a customer's
widget against the real service.

Each test follows a passage of the article (SPEC section 1) and saves a screenshot of
every step (see ``conftest.py`` for where they go).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from e2e.browser_support import Shots

pytestmark = pytest.mark.e2e

SUPPORT = {"support": (["Resolved", "Follow-up needed", "Not resolved"], 120.0)}


def api(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A call to the service's HTTP API (for what the test does behind the pages)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def newest_offer_at(page: Page, url: str, agent_id: str, *, after: float) -> float:
    """The time of the agent's first pending offer once it is later than ``after``
    (polled for up to 5 s; the last value read if it never is)."""
    deadline = time.monotonic() + 5.0
    while True:
        offers = api(url, "GET", f"/api/agents/{agent_id}/offers")["offers"]
        at = float(offers[0]["at"]) if offers else after
        if at > after or time.monotonic() > deadline:
            return at
        page.wait_for_timeout(50)


def sign_in(page: Page, name: str, *, available: bool = True) -> None:
    """Fill the desktop's sign-in form (all queues ticked) and optionally go Available."""
    page.get_by_label("Display name").fill(name)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#desk")).to_be_visible()
    if available:
        page.get_by_test_id("state-select").select_option("available")
        expect(page.locator("body")).to_have_attribute("data-agent-state", "available")


def start_chat(page: Page, name: str, contact: str) -> None:
    """The customer fills the widget's form and starts the chat."""
    page.get_by_label("Your name").fill(name)
    page.get_by_label("E-mail or phone").fill(contact)
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_test_id("messages")).to_be_visible()


def customer_says(page: Page, text: str) -> None:
    page.get_by_test_id("composer").fill(text)
    page.get_by_test_id("composer").press("Enter")
    expect(page.get_by_test_id("composer")).to_have_value("")


def agent_types(page: Page, lines: list[str]) -> None:
    """Type lines into the composer, Shift+Enter between them (line breaks)."""
    composer = page.get_by_test_id("composer")
    composer.click()
    for i, line in enumerate(lines):
        if i:
            composer.press("Shift+Enter")
        composer.type(line)


def bubbles(page: Page, role: str) -> list[str]:
    texts: list[str] = page.locator(f"#messages .message.{role} .bubble").all_inner_texts()
    return texts


def test_accept_reply_transfer_conference_customer_end_and_wrap_ups(
    service: Callable[..., str], pages: Callable[[str], Page], shots: Shots
) -> None:
    url = service(SUPPORT)
    jana = pages(f"{url}/desk/?agent=jana")
    petr = pages(f"{url}/desk/?agent=petr")
    sign_in(jana, "Jana Nováková")
    sign_in(petr, "Petr Svoboda", available=False)
    shots(jana, "jana-available")

    customer = pages(f"{url}/widget/?queue=support")
    shots(customer, "widget-start")
    start_chat(customer, "Melissa Brown", "melissa@gmail.com")
    customer_says(customer, "Hello, my order has not arrived.")
    expect(customer.get_by_test_id("status")).to_have_text("Waiting for an agent…")
    shots(customer, "widget-waiting")

    # The request popover: customer name, queue, thread, agent name, date, countdown.
    popover = jana.get_by_test_id("popover")
    expect(popover).to_be_visible()
    expect(popover).to_contain_text("Chat request")
    expect(popover).to_contain_text("Melissa Brown")
    expect(popover).to_contain_text("support")
    expect(popover).to_contain_text("Jana Nováková")
    expect(popover.get_by_test_id("popover-thread")).to_contain_text("my order has not arrived")
    expect(popover.get_by_test_id("countdown")).to_have_text(re.compile(r"RONA in \d+ s"))
    expect(jana.get_by_test_id("notification")).to_contain_text("New chat from Melissa Brown")
    shots(jana, "jana-request-popover")

    # Accept: the interaction pane, customer bubbles with initials, the timer.
    popover.get_by_role("button", name="Accept").click()
    expect(popover).to_be_hidden()
    expect(jana.get_by_test_id("interaction-title")).to_contain_text("Melissa Brown")
    expect(jana.locator("#messages .message.customer .initials").first).to_have_text("MB")
    expect(jana.get_by_test_id("timer")).to_have_text(re.compile(r"00:0[1-9]"), timeout=5000)
    expect(customer.get_by_test_id("status")).to_have_text("Chatting with Jana Nováková")

    agent_types(jana, ["Hello Melissa,", "let me check your order."])
    jana.get_by_test_id("composer").press("Enter")
    expect(jana.locator("#messages .message.agent .bubble")).to_have_text(
        "Hello Melissa,\nlet me check your order."
    )
    expect(customer.locator("#messages .message.agent .bubble")).to_have_text(
        "Hello Melissa,\nlet me check your order."
    )
    customer_says(customer, "Thank you!")
    expect(jana.locator("#messages .message.customer .bubble").last).to_have_text("Thank you!")
    shots(jana, "jana-interaction-pane")
    shots(customer, "widget-chatting")

    # A template with parameters, filled, a line break added, sent.
    jana.get_by_role("button", name="Templates").click()
    dialog = jana.get_by_test_id("template-dialog")
    dialog.locator("select").select_option(label="Order shipped")
    dialog.locator('input[data-param="order"]').fill("A-17")
    shots(jana, "jana-template-missing-parameter")
    dialog.get_by_role("button", name="Insert").click()
    expect(dialog.locator("#template-error")).to_contain_text("Fill in: date")
    dialog.locator('input[data-param="date"]').fill("Friday")
    dialog.get_by_role("button", name="Insert").click()
    expect(dialog).to_be_hidden()
    composer = jana.get_by_test_id("composer")
    expect(composer).to_have_value("Your order A-17 has shipped; it should arrive on Friday.")
    composer.press("End")
    composer.press("Shift+Enter")
    composer.type("Anything else?")
    composer.press("Enter")
    expect(customer.locator("#messages .message.agent .bubble").last).to_have_text(
        "Your order A-17 has shipped; it should arrive on Friday.\nAnything else?"
    )

    # Transfer to the other agent: lists of available agents with search and reload.
    jana.get_by_role("button", name="Transfer").click()
    transfer = jana.get_by_test_id("transfer-dialog")
    transfer.get_by_text("Agent", exact=True).click()
    expect(transfer.locator("#transfer-options")).to_contain_text("Nothing available.")
    petr.get_by_test_id("state-select").select_option("available")
    # the desk confirmed it (the selector alone changes at once): only then can a reload list him
    expect(petr.locator("body")).to_have_attribute("data-agent-state", "available")
    transfer.locator("#transfer-reload").click()
    expect(transfer.locator("#transfer-options")).to_contain_text("Petr Svoboda")
    transfer.locator("#transfer-search").fill("svob")
    expect(transfer.locator("#transfer-options li")).to_have_count(1)
    transfer.locator("#transfer-search").fill("nobody")
    expect(transfer.locator("#transfer-options")).to_contain_text("Nothing available.")
    transfer.locator("#transfer-search").fill("svob")
    transfer.get_by_text("Petr Svoboda").click()
    shots(jana, "jana-transfer-dialog")
    transfer.get_by_role("button", name="Transfer").click()

    # Initiating the transfer opens the transferring agent's wrap-up dialog.
    wrap = jana.get_by_test_id("wrap-dialog")
    expect(wrap).to_be_visible()
    expect(wrap.locator("#wrap-options li")).to_have_count(3)
    wrap.locator("#wrap-search").fill("follow")
    expect(wrap.locator("#wrap-options li")).to_have_count(1)
    wrap.get_by_text("Follow-up needed").click()
    wrap.locator("#wrap-notes").fill("Order A-17, handed to Petr.")
    shots(jana, "jana-wrap-up-after-transfer")

    petr_popover = petr.get_by_test_id("popover")
    expect(petr_popover).to_contain_text("Transfer request")
    shots(petr, "petr-transfer-popover")
    petr_popover.get_by_role("button", name="Accept").click()
    expect(petr.get_by_test_id("interaction-title")).to_contain_text("Melissa Brown")
    expect(petr.locator("#messages .message.agent")).to_have_count(2)  # Jana's replies

    wrap.get_by_role("button", name="Submit wrap-up reason").click()
    expect(wrap).to_be_hidden()
    expect(jana.get_by_test_id("history")).to_contain_text("Melissa Brown")
    expect(jana.get_by_test_id("history")).to_contain_text("Follow-up needed")
    shots(jana, "jana-history")

    # A conference: Petr invites Jana; she accepts, joins, then leaves.
    petr.get_by_role("button", name="Conference").click()
    conference = petr.get_by_test_id("conference-dialog")
    conference.locator("#conference-search").fill("novak")
    expect(conference.locator("#conference-options li")).to_have_count(1)
    conference.get_by_text("Jana Nováková").click()
    shots(petr, "petr-conference-dialog")
    conference.get_by_role("button", name="Conference").click()
    expect(petr.locator("#interaction-state")).to_have_text("Conference requested")
    jana_popover = jana.get_by_test_id("popover")
    expect(jana_popover).to_contain_text("Conference request")
    jana_popover.get_by_role("button", name="Accept").click()
    expect(petr.locator("#interaction-state")).to_have_text("Conference")
    expect(petr.locator("#messages .message.system").last).to_have_text(
        "Jana Nováková joined the conversation"
    )
    expect(customer.locator("#messages .message.system").last).to_have_text(
        "Jana Nováková joined the conversation"
    )
    agent_types(jana, ["Hi Melissa, Jana here again."])
    jana.get_by_test_id("composer").press("Enter")
    expect(customer.locator("#messages .message.agent .bubble").last).to_have_text(
        "Hi Melissa, Jana here again."
    )
    shots(petr, "petr-conference")
    shots(jana, "jana-conference-guest")
    jana.get_by_role("button", name="Leave conference").click()
    jana_wrap = jana.get_by_test_id("wrap-dialog")
    expect(jana_wrap).to_be_visible()
    jana_wrap.get_by_text("Resolved", exact=True).click()
    jana_wrap.get_by_role("button", name="Submit wrap-up reason").click()
    expect(jana_wrap).to_be_hidden()
    expect(petr.locator("#interaction-state")).to_have_text("Active")

    # The customer ends the chat; Petr sees the banner, ends and wraps up.
    customer.get_by_role("button", name="End chat").click()
    expect(customer.get_by_test_id("status")).to_have_text("The chat has ended")
    banner = petr.get_by_test_id("banner")
    expect(banner).to_contain_text("Customer ended the conversation")
    expect(petr.get_by_test_id("composer")).to_be_disabled()
    shots(petr, "petr-customer-ended")
    shots(customer, "widget-ended")
    petr.get_by_role("button", name="End", exact=True).click()
    petr_wrap = petr.get_by_test_id("wrap-dialog")
    expect(petr_wrap).to_be_visible()
    petr_wrap.get_by_text("Resolved", exact=True).click()
    petr_wrap.locator("#wrap-notes").fill("Shipped; customer satisfied.")
    shots(petr, "petr-wrap-up")
    petr_wrap.get_by_role("button", name="Submit wrap-up reason").click()
    expect(petr_wrap).to_be_hidden()
    expect(petr.get_by_test_id("history")).to_contain_text("Resolved")
    expect(petr.locator("#no-interaction")).to_be_visible()
    shots(petr, "petr-done")

    # The desk agrees: closed, customer_ended, three wrap-ups with their reasons.
    conversation_id = api(url, "GET", "/api/agents/petr/desktop")["history"][0]["id"]
    view = api(url, "GET", f"/api/conversations/{conversation_id}")
    assert (view["state"], view["outcome"]) == ("closed", "customer_ended")
    legs = [
        (leg["agent_id"], leg["role"], leg["kind"], leg["state"], leg["wrap_up_reason"])
        for leg in view["legs"]
    ]
    assert legs == [
        ("jana", "owner", "chat", "done", "Follow-up needed"),
        ("petr", "owner", "transfer", "done", "Resolved"),
        ("jana", "guest", "conference", "done", "Resolved"),
    ]


def test_an_offer_not_accepted_in_time_puts_the_agent_in_rona_until_they_change_by_hand(
    service: Callable[..., str], pages: Callable[[str], Page], shots: Shots
) -> None:
    url = service({"support": (["Resolved"], 3.0)})
    eva = pages(f"{url}/desk/?agent=eva")
    sign_in(eva, "Eva Malá")
    customer = pages(f"{url}/widget/?queue=support")
    start_chat(customer, "Tomáš Dvořák", "tomas@example.cz")

    # Declined: with nobody else to take it, the chat comes back to Eva at once, with a
    # fresh countdown.
    popover = eva.get_by_test_id("popover")
    expect(popover).to_contain_text("Tomáš Dvořák")
    first_offer = api(url, "GET", "/api/agents/eva/offers")["offers"][0]["at"]
    popover.get_by_role("button", name="Decline").click()
    expect(popover).to_be_visible()
    # The popover stays up throughout (the old offer, then the new one), so the decline's
    # arrival at the server is waited for on the server's own answer.
    assert newest_offer_at(eva, url, "eva", after=first_offer) > first_offer
    expect(popover.get_by_test_id("countdown")).to_have_text(re.compile(r"RONA in [123] s"))
    shots(eva, "offer-counting-down")

    # Nobody calls tick: the service's deadline task fires the offer timeout.
    expect(eva.locator("body")).to_have_attribute("data-agent-state", "rona", timeout=10_000)
    expect(popover).to_be_hidden()
    select = eva.get_by_test_id("state-select")
    expect(select).to_have_value("rona")
    expect(select.locator("option[value=rona]")).to_be_disabled()
    shots(eva, "rona")

    # RONA is left only by hand: still RONA a while later, and no new offer.
    eva.wait_for_timeout(1500)
    expect(eva.locator("body")).to_have_attribute("data-agent-state", "rona")
    expect(popover).to_be_hidden()

    select.select_option("available")
    expect(eva.locator("body")).to_have_attribute("data-agent-state", "available")
    expect(popover).to_contain_text("Tomáš Dvořák")  # the chat waited in its queue
    shots(eva, "available-again-offered")
    popover.get_by_role("button", name="Accept").click()
    expect(customer.get_by_test_id("status")).to_have_text("Chatting with Eva Malá")
    shots(customer, "widget-connected")

    # Logging out while holding a chat is refused; the refusal is shown, nothing changes.
    eva.get_by_role("button", name="Log out").click()
    toast = eva.get_by_test_id("notification")
    expect(toast).to_have_attribute("data-code", "agent_busy")
    expect(toast).to_be_visible()
    expect(eva.locator("#desk")).to_be_visible()
    shots(eva, "logout-refused")


def test_composer_refusals_are_shown_where_they_are(
    service: Callable[..., str], pages: Callable[[str], Page], shots: Shots
) -> None:
    url = service(SUPPORT)
    jana = pages(f"{url}/desk/?agent=jana")
    sign_in(jana, "Jana Nováková")
    customer = pages(f"{url}/widget/?queue=support")
    start_chat(customer, "Melissa Brown", "melissa@gmail.com")
    jana.get_by_test_id("popover").get_by_role("button", name="Accept").click()
    composer = jana.get_by_test_id("composer")
    error = jana.get_by_test_id("composer-error")

    # `<` and `>` are reserved: refused, the position named and marked, the text kept.
    agent_types(jana, ["Line one", "use a <b> tag"])
    composer.press("Enter")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("data-code", "reserved_character")
    expect(error).to_contain_text("“<” at position 15 is reserved for template parameters.")
    expect(error.locator("mark")).to_have_text("<")
    expect(composer).to_have_value("Line one\nuse a <b> tag")
    selected = jana.evaluate(
        "() => { const t = document.querySelector('#composer-text');"
        " return t.value.slice(t.selectionStart, t.selectionEnd); }"
    )
    assert selected == "<"
    shots(jana, "reserved-character")

    # More than 1,000 characters: the counter turns red and the desk refuses it.
    composer.fill("x" * 1001)
    expect(jana.locator("#counter")).to_have_text("1001 / 1000")
    expect(jana.locator("#counter")).to_have_class(re.compile("over"))
    composer.press("Enter")
    expect(error).to_have_attribute("data-code", "message_too_long")
    expect(error).to_contain_text(
        "The message has 1001 characters; the composer accepts at most 1000."
    )
    shots(jana, "too-long")

    # Exactly 1,000 with line breaks is fine; whitespace only is refused.
    composer.fill("   ")
    composer.press("Enter")
    expect(error).to_have_attribute("data-code", "empty_message")
    text = ("a" * 499) + "\n" + ("b" * 500)
    composer.fill(text)
    expect(jana.locator("#counter")).to_have_text("1000 / 1000")
    composer.press("Enter")
    expect(error).to_be_hidden()
    expect(customer.locator("#messages .message.agent .bubble")).to_have_text(text)
    expect(jana.locator("#messages .message.agent")).to_have_count(1)  # nothing refused was sent
    shots(jana, "sent")


RAW_ITEMS = (
    "447966197542",
    "7966",
    "melissa@",
    "4111",
    "GB82",
    "123-45-6789",
    "456 7890",
    "john.smith",
)


def test_every_masked_surface_is_masked_on_the_desktop(
    service: Callable[..., str], pages: Callable[[str], Page], shots: Shots
) -> None:
    url = service(SUPPORT)
    jana = pages(f"{url}/desk/?agent=jana")
    sign_in(jana, "Jana Nováková")

    # A proactive invitation; the customer's name is their mobile number (conditional
    # masking), the contact an e-mail, the message full of PCI and PII.
    customer = pages(f"{url}/widget/?queue=support&proactive=1")
    expect(customer.get_by_test_id("invitation")).to_contain_text("We invited you to chat")
    shots(customer, "proactive-invitation")
    start_chat(customer, "+447966197542", "melissa@gmail.com")
    customer_says(
        customer,
        "card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789, "
        "call + 1 (123) 456 7890 or john.smith@example.com",
    )

    popover = jana.get_by_test_id("popover")
    expect(popover.get_by_test_id("popover-thread")).to_contain_text("**7890")
    expect(popover.get_by_test_id("proactive-marker")).to_contain_text("Proactive chat")
    conversation_id = popover.get_attribute("data-id")
    surfaces = api(url, "GET", f"/api/conversations/{conversation_id}/surfaces")
    assert surfaces["notification_popover"] == "*********7542 (m******@gmail.com) · support"
    expect(popover.get_by_test_id("popover-title")).to_have_text(surfaces["notification_popover"])
    expect(popover.get_by_test_id("popover-customer")).to_have_text("*********7542")
    expect(jana.get_by_test_id("notification")).to_have_text(surfaces["desktop_notification"])
    assert_nothing_raw(jana)
    shots(jana, "masked-popover-and-notification")

    popover.get_by_role("button", name="Accept").click()
    expect(jana.get_by_test_id("interaction-title")).to_have_text(surfaces["interaction_title"])
    expect(jana.get_by_test_id("task-title")).to_have_text(surfaces["task_title"] + "★")
    expect(jana.get_by_test_id("task-preview")).to_have_text(surfaces["message_preview"])
    expect(jana.locator("#messages .message.customer .signature").first).to_contain_text(
        surfaces["message_signature"]
    )
    expect(jana.get_by_test_id("composer")).to_have_attribute(
        "placeholder", surfaces["composer_placeholder"]
    )
    expect(jana.get_by_test_id("cad-origin")).to_have_text(surfaces["contact_origin"])
    expect(jana.locator("#interaction-proactive")).to_be_visible()
    bubble = jana.locator("#messages .message.customer .bubble").last
    expect(bubble).to_have_text(
        "card ************1111, IBAN ******************5432, SSN *******6789, "
        "call **********7890 or j*********@example.com"
    )
    assert_nothing_raw(jana)
    shots(jana, "masked-interaction-pane")

    jana.get_by_role("button", name="End", exact=True).click()
    wrap = jana.get_by_test_id("wrap-dialog")
    wrap.get_by_text("Resolved", exact=True).click()
    wrap.get_by_role("button", name="Submit wrap-up reason").click()
    history = jana.get_by_test_id("history-tile").first
    expect(history.locator(".tile-title")).to_have_text(surfaces["history_title"])
    assert_nothing_raw(jana)
    shots(jana, "masked-history")
    # Every surface was checked on the page, each masked.
    assert all("7966" not in text and "melissa@" not in text for text in surfaces.values())


def assert_nothing_raw(page: Page) -> None:
    """No unmasked item anywhere in the page: text, attributes or scripts' output."""
    html = page.content()
    found = [item for item in RAW_ITEMS if item in html]
    assert found == []


def test_asset_deleted_banner_in_czech(
    service: Callable[..., str], pages: Callable[[str], Page], shots: Shots
) -> None:
    url = service({"podpora": (["Vyřešeno", "Nevyřešeno"], 120.0)}, locale="cs")
    jana = pages(f"{url}/desk/?agent=jana&lang=cs")
    expect(jana.locator("#login h1")).to_have_text("Přihlášení na plochu")
    jana.locator("#login-name").fill("Jana Nováková")
    jana.locator("#login-form button[type=submit]").click()
    jana.get_by_test_id("state-select").select_option("available")
    expect(jana.locator("body")).to_have_attribute("data-agent-state", "available")
    expect(jana.get_by_test_id("state-select").locator("option:checked")).to_have_text("Dostupný")
    customer = pages(f"{url}/widget/?queue=podpora&lang=cs&asset=web")
    customer.locator("#name").fill("Jan Novák")
    customer.locator("#contact").fill("+420 601 123 456")
    customer.locator("#start-form button[type=submit]").click()
    popover = jana.get_by_test_id("popover")
    expect(popover).to_contain_text("Žádost o chat")
    expect(popover.get_by_test_id("countdown")).to_have_text(re.compile(r"RONA za \d+ s"))
    shots(jana, "popover-cs")
    popover.get_by_role("button", name="Přijmout").click()
    expect(customer.get_by_test_id("status")).to_have_text("Píšete si s: Jana Nováková")

    # An administrator deletes the asset: the conversation is interrupted with a warning.
    api(url, "DELETE", "/api/assets/web")
    banner = jana.get_by_test_id("banner")
    expect(banner).to_contain_text("Správce odstranil prostředek chatu.")
    expect(banner).to_contain_text("V konverzaci nelze pokračovat; ukončete ji.")
    expect(jana.get_by_test_id("composer")).to_be_disabled()
    expect(jana.locator("#interaction-state")).to_have_text("Odpojeno")
    expect(jana.get_by_test_id("cad-origin")).to_have_text("*********3456")
    shots(jana, "asset-deleted-cs")
    jana.get_by_role("button", name="Ukončit", exact=True).click()
    wrap = jana.get_by_test_id("wrap-dialog")
    expect(wrap.locator("h2")).to_have_text("Důvody ukončení")
    wrap.get_by_text("Nevyřešeno", exact=True).click()
    shots(jana, "wrap-up-cs")
    wrap.get_by_role("button", name="Odeslat důvod ukončení").click()
    expect(wrap).to_be_hidden()
    expect(customer.get_by_test_id("status")).to_have_text("Chat byl ukončen")
    shots(customer, "widget-ended-cs")


def test_the_widget_resumes_after_a_lost_connection_without_gap_or_duplicate(
    service: Callable[..., str], pages: Callable[[str], Page], shots: Shots
) -> None:
    url = service(SUPPORT)
    api(url, "POST", "/api/agents", {"agent_id": "jana", "name": "Jana", "queues": ["support"]})
    api(url, "POST", "/api/agents/jana/available")
    customer = pages(f"{url}/widget/?queue=support")
    start_chat(customer, "Melissa Brown", "melissa@gmail.com")
    conversation_id = customer.evaluate("() => window.lcWidget.id")
    api(url, "POST", f"/api/conversations/{conversation_id}/accept", {"agent_id": "jana"})
    expect(customer.get_by_test_id("status")).to_have_text("Chatting with Jana")

    customer.evaluate("() => window.lcSocket.pause()")
    for n in range(1, 4):
        api(
            url,
            "POST",
            f"/api/conversations/{conversation_id}/messages",
            {"agent_id": "jana", "text": f"while you were away {n}"},
        )
    customer.wait_for_timeout(500)
    expect(customer.locator("#messages .message.agent")).to_have_count(0)
    customer.evaluate("() => window.lcSocket.resume()")
    agent_bubbles = customer.locator("#messages .message.agent .bubble")
    expect(agent_bubbles).to_have_text([f"while you were away {n}" for n in range(1, 4)])
    customer.evaluate("() => window.lcSocket.drop()")  # reconnects by itself
    api(
        url,
        "POST",
        f"/api/conversations/{conversation_id}/messages",
        {"agent_id": "jana", "text": "and now live"},
    )
    expect(agent_bubbles).to_have_text(
        [*(f"while you were away {n}" for n in range(1, 4)), "and now live"]
    )
    customer.wait_for_timeout(500)
    expect(agent_bubbles).to_have_count(4)
    shots(customer, "resumed")
