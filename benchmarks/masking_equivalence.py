"""Equivalence check for speed work on masking: the same inputs must give the same findings.

Records what ``find_sensitive``, ``mask_text`` and ``mask_across`` return (under the default
policy and a few others) on a large, fixed set of inputs, and compares a later run with a
recorded one, input by input::

    .venv/bin/python benchmarks/masking_equivalence.py record /tmp/masking-before.pickle.gz
    # ... change the implementation ...
    .venv/bin/python benchmarks/masking_equivalence.py check /tmp/masking-before.pickle.gz

The inputs: (a) the chat corpus of ``benchmarks/bench_masking.py`` (seed 0, 3,000 and 20,000
messages); (b) the public-generator messages it scores (Faker, ``phonenumbers``, ``schwifty``
IBANs; needs the ``test`` extra); (c) the paragraphs of real text on this machine it reads
(``--real-mb``); (d) random strings: Hypothesis strategies drawn with a fixed seed
(``derandomize``) and a token fuzzer over digits, separators, look-alikes, entities, ``@``, ``+``,
number words and Unicode digits (``random.Random(seed)``); (e) the pathological inputs of the
cost benchmark at small sizes. The record depends on the machine (its real text) and Hypothesis
draws from the string constants of the code under test, so ``check`` reads its inputs from the
record; keep the record outside the repository. The printed digest summarises it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import pickle
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_masking import PATHOLOGICAL, real_text

from livechat_core._masking import (
    ALL_KINDS,
    MaskingPolicy,
    find_sensitive,
    mask_across,
    mask_text,
)
from livechat_core._pii_samples import chat_corpus, public_messages

POLICIES: dict[str, MaskingPolicy] = {
    "cards": MaskingPolicy(kinds=frozenset({"card"})),
    "phones": MaskingPolicy(kinds=frozenset({"phone"})),
    "no-email": MaskingPolicy(kinds=ALL_KINDS - {"email"}),
    "email-iban": MaskingPolicy(kinds=frozenset({"email", "iban"})),
    "email": MaskingPolicy(kinds=frozenset({"email"})),
    "cards-email": MaskingPolicy(kinds=frozenset({"card", "email"})),
    "bin-label": MaskingPolicy(keep_card_bin=True, style="label"),
    "bin": MaskingPolicy(keep_card_bin=True),
}

_TOKENS = (
    *"0123456789",
    *"0123456789",
    "4111",
    "1111",
    "5500",
    "0000",
    "00",
    "+",
    "＋",
    "+420",
    "+1",
    "(",
    ")",
    " ",
    " ",
    "  ",
    "-",
    ".",
    "/",
    "\n",
    "\u00a0",
    "\u200b",
    "|",
    ",",
    "🙂",
    "&nbsp;",
    "&#52;",
    "O",
    "o",
    "l",
    "I",
    "x",
    "ext. ",
    "@",
    "＠",
    " at ",
    "(at)",
    " dot ",
    "example",
    ".com",
    ".cz",
    "jan",
    "a",
    "Z",
    "CH",
    "GB",
    "DE",
    "CZ",
    "NL",
    "MT",
    "ssn ",
    "tel. ",
    "order ",
    "účet ",
    "Kč",
    "$",
    "***",
    "*",
    "one ",
    "four ",
    "nine ",
    "jedna ",
    "dvě ",
    "٣",
    "７",
    "²",
    "①",
    "𝟗",
    ":",
    ";",
    "#",
    "_",
    "'",
)


def fuzz_texts(count: int, seed: int) -> list[str]:
    """Random strings of edge-case tokens (fixed seed)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        size = rng.choice((1, 3, 8, 20, 40, 80))
        texts.append("".join(rng.choice(_TOKENS) for _ in range(rng.randint(1, size))))
    return texts


def hypothesis_texts(per_strategy: int) -> list[str]:
    """Texts drawn from the property tests' strategies with a fixed seed."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from livechat_core._pii_strategies import chat_texts

    strategies = {
        "any": st.text(alphabet=st.characters(exclude_categories=()), max_size=200),
        "numberish": st.text(alphabet="0123456789 -./+()@＠*aZ\u200b\u00a0\n٣７", max_size=80),
        "chat": chat_texts(),
    }
    drawn: list[str] = []
    for strategy in strategies.values():

        @settings(
            max_examples=per_strategy,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def collect(text: str) -> None:
            drawn.append(text)

        collect()
    return drawn


def inputs(real_mb: float, fuzz: int, per_strategy: int) -> dict[str, list[str]]:
    chat = [m.text for m in chat_corpus(20_000, seed=0)]
    chat += [m.text for m in chat_corpus(3_000, seed=0)]
    return {
        "chat": list(dict.fromkeys(chat)),
        "public": [m.text for m in public_messages(seed=0, per_generator=3)],
        "real": real_text(real_mb),
        "hypothesis": hypothesis_texts(per_strategy),
        "fuzz": fuzz_texts(fuzz, seed=11),
        "pathological": [make(size) for make in PATHOLOGICAL.values() for size in (7, 100, 3000)],
    }


def outputs(text: str, full: bool) -> tuple[Any, ...]:
    row: list[Any] = [
        [(f.kind, f.start, f.end) for f in find_sensitive(text)],
        mask_text(text),
    ]
    if full:
        for policy in POLICIES.values():
            row.append(mask_text(text, policy))
        row.append([(f.kind, f.start, f.end) for f in find_sensitive(text, POLICIES["cards"])])
    return tuple(row)


def across(texts: Sequence[str], width: int) -> list[list[str]]:
    """``mask_across`` over consecutive windows of ``width`` texts."""
    return [mask_across(texts[k : k + width]) for k in range(0, len(texts), width)]


def chained(texts: Sequence[str], width: int) -> list[Any]:
    """What masking at rest makes of each text sent after the ``width`` before it (customer
    messages; the chain of ``_pci`` joins the parts of a split item), by the at-rest policy."""
    from livechat_core._model import Message, Role
    from livechat_core._pci import CARDS_ONLY, _mask_with_chain

    messages = [
        Message(id=f"c/{k}", role=Role.CUSTOMER, author="c", text=text, at=0.0, initials="C")
        for k, text in enumerate(texts)
    ]
    return [
        _mask_with_chain(messages[max(0, k - width) : k], text, CARDS_ONLY)
        for k, text in enumerate(texts)
    ]


def run(
    options: argparse.Namespace, recorded: dict[str, list[Any]] | None = None
) -> dict[str, list[Any]]:
    """The outputs on every input: made afresh, or those of ``recorded`` (Hypothesis draws
    from the string constants of the code under test, so its inputs change with the code)."""
    began = time.perf_counter()
    if recorded is None:
        groups = inputs(options.real_mb, options.fuzz, options.per_strategy)
    else:
        groups = {
            name: [text for text, _ in rows]
            for name, rows in recorded.items()
            if not name.startswith("across")
        }
    print(
        "inputs: "
        + ", ".join(f"{name} {len(texts):,}" for name, texts in groups.items())
        + f" = {sum(map(len, groups.values())):,} texts "
        f"({time.perf_counter() - began:.0f} s to make)"
    )
    began = time.perf_counter()
    results: dict[str, list[Any]] = {}
    for name, texts in groups.items():
        full = name != "real"  # the real text: default policy only (it is big)
        results[name] = [(text, outputs(text, full)) for text in texts]
    results["across-chat"] = [("", across(groups["chat"], 4))]
    results["across-fuzz"] = [("", across(groups["fuzz"], 3))]
    digits_only = [t for t in groups["fuzz"] if any(c.isdigit() for c in t)]
    results["across-fuzz-digits"] = [("", across(digits_only, 5))]
    results["across-chain-chat"] = [("", chained(groups["chat"], 4))]
    results["across-chain-fuzz-digits"] = [("", chained(digits_only, 5))]
    print(f"outputs computed in {time.perf_counter() - began:.0f} s")
    return results


def digest(results: dict[str, list[Any]]) -> str:
    hasher = hashlib.sha256()
    for name in sorted(results):
        hasher.update(name.encode())
        hasher.update(repr(results[name]).encode("utf-8", "surrogatepass"))
    return hasher.hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", choices=["record", "check"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--real-mb", type=float, default=8.0)
    parser.add_argument("--fuzz", type=int, default=30_000)
    parser.add_argument("--per-strategy", type=int, default=2_000)
    parser.add_argument("--show", type=int, default=10, help="differences shown (10)")
    options = parser.parse_args(argv)
    recorded: dict[str, list[Any]] | None = None
    if options.mode == "check":
        with gzip.open(options.path, "rb") as file:
            recorded = pickle.load(file)  # our own record
    results = run(options, recorded)
    compared = sum(len(rows) for name, rows in results.items() if not name.startswith("across"))
    windows = sum(len(rows[0][1]) for name, rows in results.items() if name.startswith("across"))
    print(f"digest {digest(results)} ({compared:,} texts, {windows:,} mask_across windows)")
    if options.mode == "record":
        with gzip.open(options.path, "wb") as file:
            pickle.dump(results, file)
        print(f"recorded to {options.path}")
        return 0
    assert recorded is not None
    differences = 0
    show: Callable[[str], None] = print
    for name, rows in recorded.items():
        now = results.get(name)
        if now is None or len(now) != len(rows):
            show(f"{name}: {len(rows)} recorded, {0 if now is None else len(now)} now")
            differences += 1
            continue
        for (text, before), (text_now, after) in zip(rows, now, strict=True):
            if text != text_now:
                show(f"{name}: the inputs differ ({text!r} / {text_now!r})")
                differences += 1
                break
            if before != after:
                differences += 1
                if differences <= options.show:
                    show(f"{name}: {text!r}\n    before {before!r}\n    after  {after!r}")
    print("identical" if not differences else f"{differences} DIFFERENCES")
    return 0 if not differences else 1


if __name__ == "__main__":
    raise SystemExit(main())
