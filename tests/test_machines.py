"""The derived lookup tables agree with the ``transitions`` declaration on every pair."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest
from transitions import MachineError

from livechat_core import AgentStateError, ConversationStateError, InvalidTransition
from livechat_core._machines import (
    AGENT_MACHINE,
    CONVERSATION_MACHINE,
    LEG_MACHINE,
    MACHINES,
    StateMachine,
    mermaid,
)

DOCS = pathlib.Path(__file__).parent.parent / "docs" / "model.md"


class _Model:
    state: str


def _declared_dest(machine: StateMachine[Any], state: str, trigger: str) -> str | None:
    """Ask the ``transitions`` declaration itself, with a throwaway model."""
    model = _Model()
    machine.declaration.add_model(model, initial=state)
    try:
        getattr(model, trigger)()
    except MachineError:
        return None
    finally:
        machine.declaration.remove_model(model)
    return model.state


@pytest.mark.parametrize("machine", list(MACHINES.values()), ids=list(MACHINES))
def test_derived_table_agrees_with_declaration_on_every_pair(machine: StateMachine[Any]) -> None:
    pairs = list(machine.pairs())
    assert len(pairs) == len(machine.states.__members__) * len(machine.triggers)
    for state, trigger, derived in pairs:
        assert derived == _declared_dest(machine, state, trigger), (state, trigger)


@pytest.mark.parametrize("machine", list(MACHINES.values()), ids=list(MACHINES))
def test_missing_pair_raises_typed_error_naming_machine_state_and_trigger(
    machine: StateMachine[Any],
) -> None:
    for state, trigger, dest in machine.pairs():
        if dest is not None:
            assert machine.next_state(state, trigger) == dest
            continue
        with pytest.raises(InvalidTransition) as caught:
            machine.next_state(state, trigger, aggregate_id="x1")
        assert caught.value.machine == machine.name
        assert caught.value.state == state
        assert caught.value.trigger == trigger
        assert caught.value.aggregate_id == "x1"


def test_machines_raise_their_own_error_classes() -> None:
    with pytest.raises(AgentStateError):
        AGENT_MACHINE.next_state("logged_out", "set_available")
    with pytest.raises(ConversationStateError):
        CONVERSATION_MACHINE.next_state("closed", "accept")
    assert LEG_MACHINE.next_state("offered", "accept") == "active"


def test_declarations_never_ignore_invalid_triggers_nor_add_auto_transitions() -> None:
    for machine in MACHINES.values():
        assert machine.declaration.ignore_invalid_triggers is False
        assert not any(t.startswith("to_") for t in machine.declaration.events)


def test_every_state_is_reachable_from_the_initial_state() -> None:
    for machine in MACHINES.values():
        seen = {machine.initial.value}
        frontier = [machine.initial.value]
        while frontier:
            state = frontier.pop()
            for source, _, dest in machine.pairs():
                if source == state and dest is not None and dest not in seen:
                    seen.add(dest)
                    frontier.append(dest)
        assert seen == {s.value for s in machine.states}, machine.name


def test_generated_diagrams_in_docs_are_current() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name, machine in MACHINES.items():
        match = re.search(
            rf"<!-- diagram:{name} -->\n```mermaid\n(.*?)```\n<!-- /diagram:{name} -->",
            text,
            re.S,
        )
        assert match is not None, f"docs/model.md lacks the {name} diagram"
        assert match.group(1) == mermaid(machine), (
            f"the {name} diagram is stale: run python scripts/generate_diagrams.py"
        )
