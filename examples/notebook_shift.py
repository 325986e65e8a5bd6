# %% [markdown]
# # A shift, notebook style
#
# Open this file in Jupyter (with jupytext), VS Code or PyCharm: each `# %%` is a cell. Run
# as a script (`python examples/notebook_shift.py`) it writes everything the cells show into
# `shift.html` (and `shift.png` when matplotlib is installed) in the working directory.
#
# In a notebook, a conversation, an agent or a desk shows itself as HTML: the cells below
# call the same functions their `_repr_html_` uses, so the script can collect the cards.

# %%
from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

from livechat_core import Desk, MaskingPolicy, ShiftConfig, SqliteStore, events, simulate
from livechat_core._html import agent_html, conversation_html, desk_html
from livechat_core.testing import ManualClock

page: list[str] = []  # what the notebook would display, cell by cell


def show(title: str, markup: str) -> None:
    """Display ``markup`` (collected for shift.html when run as a script)."""
    page.append(f"<h2>{html.escape(title)}</h2>{markup}")


# %% [markdown]
# ## A simulated hour
#
# Eight agents, two chats a minute, seeded: the same seed gives the same shift. The desk
# lives in `shift.db` (SQLite), so we can look at it afterwards.

# %%
for leftover in Path().glob("shift.db*"):
    leftover.unlink()
store = SqliteStore("shift.db")
seen: list[events.Event] = []
report = simulate(ShiftConfig(seed=4, minutes=45), store=store, on_event=seen.append)
print(report.format())
show("The report", f"<pre>{html.escape(report.format())}</pre>")

# %% [markdown]
# ## The busiest conversation
#
# The chat with the most events: transfers, conferences and every wrap-up. Customer data is
# masked by the desk's policy (the default masks everything).

# %%
desk = Desk(store=store, clock=lambda: report.ended_at)
per_chat = Counter(event.aggregate_id for event in seen if event.aggregate == "conversation")
busiest, _ = per_chat.most_common(1)[0]
conversation = desk.conversation(busiest)
print(conversation.id, conversation.state, conversation.outcome, len(conversation.messages))
show(f"Conversation {busiest}", conversation_html(conversation))

# %% [markdown]
# With masking off (an administrator's view), the same transcript shows the phone numbers
# and e-mail addresses customers typed. Card numbers stay masked: they were never stored.

# %%
show(
    f"Conversation {busiest}, masking off",
    conversation_html(conversation, policy=MaskingPolicy(enabled=False)),
)

# %% [markdown]
# ## Agents
#
# Each agent's card: state, load against capacity. The shift is over, so everyone has
# logged out; the report says who took the most chats.

# %%
busiest_agent = max(report.agents, key=lambda agent: agent.chats)
print(f"{busiest_agent.name}: {busiest_agent.chats} chats, {busiest_agent.ronas} RONA")
show("An agent after the shift", agent_html(desk.agent(busiest_agent.id)))

# %% [markdown]
# ## A desk in the middle of things
#
# The overview shows queues, agents and the open conversations with their timers. A small
# live desk on a hand-moved clock: one chat active, one in a conference, one waiting.

# %%
clock = ManualClock()
live = Desk(clock=clock)
live.add_queue("support", ["Resolved", "Escalated"])
live.login("jana", "Jana Nováková", ["support"], capacity=2)
live.login("petr", "Petr Svoboda", ["support"])
live.set_available("jana")
first = live.start_chat("support", "Karel Novák", "karel.novak@example.com")
live.send_customer_message(first, "Hello, my parcel has not arrived.")
live.accept("jana", first)
clock.advance(40)
live.send_agent_message("jana", first, "Hello Karel, let me check that for you.")
second = live.start_chat("support", "+447966197542", "")
live.send_customer_message(second, "My card 4111 1111 1111 1111 was charged twice")
live.accept("jana", second)
live.set_available("petr")
live.request_conference("jana", second, "petr")
live.accept("petr", second)
live.set_idle("jana", "break")
clock.advance(25)
third = live.start_chat("support", "Marie Černá", "marie@example.com")
live.send_customer_message(third, "Dobrý den, mám dotaz k faktuře.")
clock.advance(15)
show("The desk", desk_html(live))
show("The conference", conversation_html(live.conversation(second), now=clock.now))

# %% [markdown]
# ## Plots
#
# Queue length over the shift and the handling-time histogram (with matplotlib installed:
# `pip install 'livechat-core[plots]'`).

# %%
try:
    report.plot("shift.png")
except ImportError as missing:
    print(missing)
else:
    show("Queue length and handling time", '<img src="shift.png" alt="shift plots" width="640">')

# %%
store.close()
Path("shift.html").write_text(
    "<!doctype html><meta charset='utf-8'><title>A simulated shift</title>"
    "<body style='font-family: system-ui, sans-serif; margin: 2em'>" + "".join(page),
    encoding="utf-8",
)
print(f"wrote {Path('shift.html').resolve()}")
