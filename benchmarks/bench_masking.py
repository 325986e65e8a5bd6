"""Benchmark: livechat-core masking against Microsoft Presidio's pattern recognizers.

Run on demand (Presidio is a benchmark-only extra, never a runtime dependency)::

    .venv/bin/pip install presidio-analyzer presidio-anonymizer   # or: pip install -e '.[bench]'
    .venv/bin/python benchmarks/bench_masking.py [--messages 20000] [--seed 0] [--no-presidio]

It generates a chat corpus (``livechat_core._pii_samples.chat_corpus``: about 15% of the
messages carry one item of a random kind and format, most of the rest are hard negatives:
dates, times, amounts, order, invoice and tracking numbers, IP addresses, versions,
non-Luhn vouchers, IMEIs...), times ``mask_text`` and Presidio on the same messages in the
same run, and reports recall and precision per kind for both.

Scoring: a planted item is found when a finding of its kind overlaps it; a finding is
correct when it overlaps a planted item of its kind. Presidio runs without any NLP model
(``NoOpNlpEngine``), asked only for the five entities that correspond to our kinds, with a
``tldextract`` that never fetches a suffix list.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from livechat_core._masking import find_sensitive, mask_text
from livechat_core._pii_samples import LabelledMessage, chat_corpus

KINDS = ("card", "email", "iban", "phone", "ssn")
PRESIDIO_ENTITIES = {
    "CREDIT_CARD": "card",
    "IBAN_CODE": "iban",
    "US_SSN": "ssn",
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
}

Span = tuple[str, int, int]


def score(
    corpus: Sequence[LabelledMessage], found: Sequence[Sequence[Span]]
) -> dict[str, tuple[float, float, int, int]]:
    """Per kind: (recall, precision, missed items, wrong findings)."""
    planted: Counter[str] = Counter()
    hit: Counter[str] = Counter()
    reported: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    for message, spans in zip(corpus, found, strict=True):
        if message.kind is not None:
            planted[message.kind] += 1
            if any(
                kind == message.kind and start < message.end and message.start < end
                for kind, start, end in spans
            ):
                hit[message.kind] += 1
        for kind, start, end in spans:
            reported[kind] += 1
            if kind == message.kind and start < message.end and message.start < end:
                correct[kind] += 1
    return {
        kind: (
            hit[kind] / planted[kind] if planted[kind] else 1.0,
            correct[kind] / reported[kind] if reported[kind] else 1.0,
            planted[kind] - hit[kind],
            reported[kind] - correct[kind],
        )
        for kind in KINDS
    }


def throughput(texts: Sequence[str], function: Callable[[str], object]) -> tuple[float, float]:
    """Messages per second and MB (UTF-8) per second of ``function`` over ``texts``."""
    megabytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for text in texts:
            function(text)
        best = min(best, time.perf_counter() - began)
    return len(texts) / best, megabytes / best


def presidio() -> tuple[Callable[[str], list[Any]], Callable[[str], str]]:
    import tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    # Presidio's e-mail and URL recognizers call tldextract; make sure it never fetches.
    offline = tldextract.TLDExtract(suffix_list_urls=())
    setattr(tldextract, "extract", offline)  # noqa: B010 - a monkeypatch mypy would refuse
    engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]
    entities = list(PRESIDIO_ENTITIES)

    def analyze(text: str) -> list[Any]:
        return analyzer.analyze(text=text, language="en", entities=entities)

    def mask(text: str) -> str:
        return str(anonymizer.anonymize(text=text, analyzer_results=analyze(text)).text)

    return analyze, mask


def report(name: str, rates: dict[str, tuple[float, float, int, int]]) -> None:
    print(f"  {name}")
    for kind in KINDS:
        recall, precision, missed, wrong = rates[kind]
        print(
            f"    {kind:6} recall {recall:7.2%} ({missed} missed)"
            f"   precision {precision:7.2%} ({wrong} wrong)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-presidio", action="store_true")
    parser.add_argument("--show-errors", type=int, default=0, metavar="N")
    options = parser.parse_args(argv)

    corpus = chat_corpus(options.messages, seed=options.seed)
    texts = [m.text for m in corpus]
    with_item = sum(m.kind is not None for m in corpus)
    print(
        f"corpus: {len(corpus)} messages (seed {options.seed}), {with_item} with one item, "
        f"{sum(len(t) for t in texts) / 1e6:.2f} M characters; Python {sys.version.split()[0]}"
    )

    ours = [[(f.kind, f.start, f.end) for f in find_sensitive(t)] for t in texts]
    our_rates = score(corpus, ours)
    our_speed = throughput(texts, mask_text)
    print(f"livechat-core mask_text: {our_speed[0]:,.0f} messages/s, {our_speed[1]:.2f} MB/s")
    report("livechat-core", our_rates)
    if options.show_errors:
        shown = 0
        for message, spans in zip(corpus, ours, strict=True):
            wrong = [s for s in spans if s[0] != message.kind]
            missed = message.kind is not None and not any(s[0] == message.kind for s in spans)
            if (wrong or missed) and shown < options.show_errors:
                shown += 1
                print(f"    {'MISSED' if missed else 'WRONG '} {message.kind}: {message.text!r}")
                for kind, start, end in wrong:
                    print(f"        found {kind}: {message.text[start:end]!r}")

    if options.no_presidio:
        return 0
    analyze, presidio_mask = presidio()
    theirs = [
        [
            (PRESIDIO_ENTITIES[r.entity_type], r.start, r.end)
            for r in analyze(t)
            if r.entity_type in PRESIDIO_ENTITIES
        ]
        for t in texts
    ]
    their_rates = score(corpus, theirs)
    analyze_speed = throughput(texts, analyze)
    mask_speed = throughput(texts, presidio_mask)
    print(
        f"Presidio analyze: {analyze_speed[0]:,.0f} messages/s, {analyze_speed[1]:.2f} MB/s; "
        f"analyze + anonymize: {mask_speed[0]:,.0f} messages/s, {mask_speed[1]:.2f} MB/s"
    )
    report("Presidio (pattern recognizers, NoOpNlpEngine)", their_rates)
    print(
        f"mask_text throughput: {our_speed[0] / analyze_speed[0]:.1f}x Presidio analyze, "
        f"{our_speed[0] / mask_speed[0]:.1f}x Presidio analyze + anonymize"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
