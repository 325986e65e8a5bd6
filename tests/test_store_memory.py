"""The in-memory store passes the store conformance suite."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from livechat_core.adapters.memory import MemoryStore
from livechat_core.ports import Store
from livechat_core.testing import StoreConformance


class TestMemoryStore(StoreConformance):
    def make_store(self) -> Store:
        return MemoryStore()


@settings(max_examples=100)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, 3000)),
        max_size=3000,
    )
)
def test_the_memory_stores_sorted_keys_agree_with_a_sorted_list(
    steps: list[tuple[bool, int]],
) -> None:
    from livechat_core.adapters.memory import _SortedKeys

    keys = _SortedKeys()
    expected: list[tuple[float, str]] = []
    for step, (add, number) in enumerate(steps):
        key = (float(number % 97), f"id{number}")
        if add and key not in expected:
            keys.add(key)
            expected.append(key)
        elif not add and key in expected:
            keys.remove(key)
            expected.remove(key)
        if step % 500 == 0:  # blocks split past 1,024 keys and empty out again
            assert list(keys) == sorted(expected)
            cursor = (float(number % 97), f"id{number + step % 3 - 1}")
            assert list(keys.after(cursor)) == [k for k in sorted(expected) if k > cursor]
    assert list(keys) == sorted(expected)
    assert list(keys.after(None)) == sorted(expected)
    for cursor in [(-1.0, ""), (50.0, "id5"), (96.0, "id99999"), (97.0, "")]:
        assert list(keys.after(cursor)) == [k for k in sorted(expected) if k > cursor]


def test_the_memory_stores_sorted_keys_split_and_merge_blocks() -> None:
    import random

    from livechat_core.adapters.memory import _SortedKeys

    rng = random.Random(10)
    keys = [(float(rng.randrange(100)), f"id{n}") for n in range(5000)]
    sorted_keys = _SortedKeys()
    for key in rng.sample(keys, len(keys)):
        sorted_keys.add(key)
    assert list(sorted_keys) == sorted(keys)
    gone = set(rng.sample(keys, 4000))
    for key in gone:
        sorted_keys.remove(key)
    assert list(sorted_keys) == sorted(set(keys) - gone)


def test_the_memory_stores_sorted_keys_refuse_to_remove_a_missing_key() -> None:
    """The indexes are exact: removing a key that is not there raises and changes
    nothing (it used to delete the key where the missing one would have stood)."""
    import pytest

    from livechat_core.adapters.memory import _SortedKeys

    keys = _SortedKeys()
    with pytest.raises(KeyError):
        keys.remove((1.0, "a"))
    for number in range(3000):
        keys.add((float(number), f"id{number}"))
    for missing in [(-1.0, "x"), (5.0, "id5x"), (1500.5, "id"), (9999.0, "id")]:
        with pytest.raises(KeyError):
            keys.remove(missing)
    assert list(keys) == [(float(n), f"id{n}") for n in range(3000)]
    assert keys
    for number in range(3000):
        keys.remove((float(number), f"id{number}"))
    assert not keys
