"""Benchmark: livechat-core masking against Microsoft Presidio's pattern recognizers.

Four measurements in one run: (1) recall, precision and throughput on a generated chat corpus;
(2) recall and precision on items made by public generators no one here wrote (Faker in 56
locales, ``phonenumbers`` example numbers of every region and type, ``schwifty`` IBANs of every
country; needs the ``test`` extra); (3) false findings per MB of real text that is not chat
(Debian changelogs, licences, man pages and Python docstrings found on this machine); (4) the
cost per KB of ``mask_text`` from 1 KB to 1 MB on ordinary and pathological inputs.

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
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from livechat_core._masking import find_sensitive, mask_text
from livechat_core._pii_samples import LabelledMessage, chat_corpus, public_messages

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


def throughput(
    texts: Sequence[str], functions: dict[str, Callable[[str], object]], rounds: int = 5
) -> dict[str, tuple[float, float, float]]:
    """Per function: messages per second and MB (UTF-8) per second over ``texts``, in CPU
    time of this process (the machines are shared: wall time would measure the neighbours),
    the median of ``rounds`` rounds; and its speed relative to the first function, the median
    of the per-round ratios. Each round runs every function once, one after the other, so a
    change of load on the machine slows all of them alike."""
    megabytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            began = time.process_time()
            for text in texts:
                function(text)
            times[name].append(time.process_time() - began)
    first = next(iter(functions))
    result = {}
    for name, spent in times.items():
        median = statistics.median(spent)
        relative = statistics.median(b / a for a, b in zip(times[first], spent, strict=True))
        result[name] = (len(texts) / median, megabytes / median, relative)
    return result


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


def real_text(megabytes: float) -> list[str]:
    """Paragraphs of real non-chat text on this machine, about ``megabytes`` of it."""
    import ast
    import glob
    import gzip
    import os

    budget = {"changelog": 0.4, "license": 0.05, "man": 0.3, "docstring": 0.25}
    texts: list[str] = []

    def take(source: str, text: str, used: list[float]) -> bool:
        texts.extend(text.split("\n\n"))
        used[0] += len(text.encode("utf-8", "replace")) / 1e6
        return used[0] >= megabytes * budget[source]

    used = [0.0]
    for path in sorted(glob.glob("/usr/share/doc/*/changelog*.gz")):
        with gzip.open(path, "rt", errors="replace") as file:
            if take("changelog", file.read(), used):
                break
    used = [0.0]
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(path):
            with open(path, errors="replace") as file:
                if take("license", file.read(), used):
                    break
    used = [0.0]
    for path in sorted(glob.glob("/usr/share/man/man*/*.gz")):
        with gzip.open(path, "rt", errors="replace") as file:
            if take("man", file.read(), used):
                break
    used = [0.0]
    stdlib = os.path.dirname(os.__file__)
    for path in sorted(glob.glob(f"{stdlib}/**/*.py", recursive=True)):
        try:
            with open(path, encoding="utf-8") as file:
                tree = ast.parse(file.read())
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        docstrings = [
            ast.get_docstring(node) or ""
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        if take("docstring", "\n\n".join(d for d in docstrings if d), used):
            break
    return [t for t in texts if t.strip()]


def false_findings_per_mb(
    texts: Sequence[str], find: Callable[[str], list[Span]]
) -> tuple[float, Counter[str], list[str]]:
    """Findings other than e-mail addresses per MB of ``texts`` (real addresses of package
    maintainers are e-mails; everything else in such text is a false finding)."""
    megabytes = sum(len(t.encode("utf-8", "replace")) for t in texts) / 1e6
    counts: Counter[str] = Counter()
    samples: list[str] = []
    for text in texts:
        for kind, start, end in find(text):
            counts[kind] += 1
            if kind != "email" and len(samples) < 12:
                samples.append(f"{kind}: {text[max(0, start - 20) : end + 10]!r}")
    return (sum(counts.values()) - counts["email"]) / megabytes, counts, samples


PATHOLOGICAL: dict[str, Callable[[int], str]] = {
    "chat": lambda n: (
        "Dobrý den, volejte +420 603 123 456 nebo pište na jana@example.cz, díky! " * (n // 70 + 1)
    )[:n],
    "prose": lambda n: ("The quick brown fox jumps over the lazy dog at 10:30. " * (n // 50 + 1))[
        :n
    ],
    "dotted domain": lambda n: "x@" + "a." * (n // 2),
    "hyphenated domain": lambda n: "x@" + "a-a." * (n // 4),
    "@ run": lambda n: "@" * n,
    "digits": lambda n: "1" * n,
    "digits and spaces": lambda n: "1 " * (n // 2),
    "digit pairs and dashes": lambda n: "12-" * (n // 3),
    "plus runs": lambda n: "+1 " * (n // 3),
    "IBAN prefixes": lambda n: "CH66 " * (n // 5),
    "look-alikes": lambda n: "1O" * (n // 2),
    "entities": lambda n: "&nbsp;1" * (n // 7),
    "emoji and digits": lambda n: "1🙂" * (n // 2),
    "number words": lambda n: "one " * (n // 4),
}


def cost_per_kb(sizes: Sequence[int] = (1_000, 10_000, 100_000, 1_000_000)) -> None:
    """µs per KB of ``mask_text`` for each input of :data:`PATHOLOGICAL` at each size, in CPU
    time of this process; small inputs are repeated so each measurement lasts long enough."""
    print("cost of mask_text, CPU µs per KB (best of 3):")
    print(f"  {'input':24}" + "".join(f"{size // 1000:>9} KB" for size in sizes) + "   max/min")
    for name, make in PATHOLOGICAL.items():
        row = []
        for size in sizes:
            text = make(size)
            repeat = max(1, 200_000 // size)
            best = float("inf")
            for _ in range(3):
                began = time.process_time()
                for _ in range(repeat):
                    mask_text(text)
                best = min(best, (time.process_time() - began) / repeat)
            row.append(best * 1e6 / (len(text) / 1000))
        print(
            f"  {name:24}"
            + "".join(f"{value:12.1f}" for value in row)
            + f"   {max(row) / min(row):6.1f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-presidio", action="store_true")
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds (5)")
    parser.add_argument("--show-errors", type=int, default=0, metavar="N")
    parser.add_argument("--real-mb", type=float, default=8.0, help="MB of real text (8)")
    parser.add_argument("--skip", action="append", default=[], choices=["public", "real", "cost"])
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
    if options.no_presidio:
        our_speed = throughput(texts, {"mask_text": mask_text})["mask_text"]
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

    analyze: Callable[[str], list[Any]] | None = None
    presidio_mask: Callable[[str], str] | None = None
    if not options.no_presidio:
        analyze, presidio_mask = presidio()

    def presidio_spans(text: str) -> list[Span]:
        assert analyze is not None
        return [
            (PRESIDIO_ENTITIES[r.entity_type], r.start, r.end)
            for r in analyze(text)
            if r.entity_type in PRESIDIO_ENTITIES
        ]

    def our_spans(text: str) -> list[Span]:
        return [(f.kind, f.start, f.end) for f in find_sensitive(text)]

    if "public" not in options.skip:
        public = public_messages(seed=options.seed, per_generator=3)
        print(f"\npublic generators: {len(public)} items in English and Czech sentences")
        report("livechat-core", score(public, [our_spans(m.text) for m in public]))
        if analyze is not None:
            report("Presidio", score(public, [presidio_spans(m.text) for m in public]))
    if "real" not in options.skip:
        paragraphs = real_text(options.real_mb)
        size = sum(len(t.encode("utf-8", "replace")) for t in paragraphs) / 1e6
        print(f"\nreal non-chat text: {size:.1f} MB in {len(paragraphs):,} paragraphs")
        rate, counts, samples = false_findings_per_mb(paragraphs, our_spans)
        print(f"  livechat-core: {rate:.2f} non-e-mail findings per MB {dict(counts)}")
        for sample in samples:
            print(f"      {sample}")
        if analyze is not None:
            rate, counts, _ = false_findings_per_mb(paragraphs, presidio_spans)
            print(f"  Presidio: {rate:.2f} non-e-mail findings per MB {dict(counts)}")
    if "cost" not in options.skip:
        print()
        cost_per_kb()
    if analyze is None or presidio_mask is None:
        return 0
    print()
    theirs = [
        [
            (PRESIDIO_ENTITIES[r.entity_type], r.start, r.end)
            for r in analyze(t)
            if r.entity_type in PRESIDIO_ENTITIES
        ]
        for t in texts
    ]
    their_rates = score(corpus, theirs)
    report("Presidio (pattern recognizers, NoOpNlpEngine)", their_rates)
    speeds = throughput(
        texts,
        {"mask_text": mask_text, "analyze": analyze, "analyze + anonymize": presidio_mask},
        rounds=options.rounds,
    )
    our_speed, analyze_speed, mask_speed = speeds.values()
    print(
        f"\nthroughput on the chat corpus (CPU time, median of {options.rounds} "
        "interleaved rounds):\n"
        f"  livechat-core mask_text: {our_speed[0]:,.0f} messages/s, {our_speed[1]:.2f} MB/s\n"
        f"  Presidio analyze: {analyze_speed[0]:,.0f} messages/s, {analyze_speed[1]:.2f} MB/s; "
        f"analyze + anonymize: {mask_speed[0]:,.0f} messages/s, {mask_speed[1]:.2f} MB/s\n"
        f"mask_text throughput: {analyze_speed[2]:.1f}x Presidio analyze, "
        f"{mask_speed[2]:.1f}x Presidio analyze + anonymize (median of the per-round ratios)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
