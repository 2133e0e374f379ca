"""Quality of the similar-question suggestions on a labelled set of question pairs.

Run: .venv/bin/python bench/duplicates_quality.py [--pairs bench/data/duplicate_pairs.jsonl]

Each line of the set is a pair of workplace questions (induction, sales, management, clinical practice),
``a`` asked first, ``b`` later, labelled a duplicate (the same question in other words) or not (a near
miss: same topic, a different question). For each pair, each method says whether ``a`` is suggested
when ``b`` is asked, with ``a`` the only other question of the community:
- meaning (the service's semantic suggestion): ``b`` and ``a`` share a bucket key and ``a``'s cosine
  is at or above the threshold; the service's own functions (``adapters.embedding_model``,
  ``domain.similarity``) make the vectors, keys and scores;
- terms (today's hint): ``a`` has a relevance above zero for the terms of ``b``'s title, as the stored
  hints rank candidates (``domain.search``).
The threshold is chosen on the even-numbered pairs (the one with the best F1 there) and reported on the
odd-numbered ones; the whole set is reported too. Unrelated pairs (each duplicate's ``b`` against the
``a`` of a pair from another topic) show how often each method suggests a question of another subject.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guild_content.adapters.embedding_model import WordLlamaEmbedder
from guild_content.domain import similarity
from guild_content.domain.search import IndexedText, relevance, terms

PAIRS = Path(__file__).parent / "data" / "duplicate_pairs.jsonl"
UNRELATED_MAX = 0.0
GRID = [round(0.05 + i * 0.01, 2) for i in range(91)]


@dataclass(frozen=True)
class Scored:
    duplicate: bool
    topic: str
    cosine: float
    shares_key: bool
    terms_hint: bool


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int
    tn: int

    @classmethod
    def of(cls, truth: list[bool], said: list[bool]) -> Counts:
        pairs = list(zip(truth, said, strict=True))
        return cls(
            sum(t and s for t, s in pairs),
            sum(s and not t for t, s in pairs),
            sum(t and not s for t, s in pairs),
            sum(not t and not s for t, s in pairs),
        )

    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    def f1(self) -> float:
        p, r = self.precision(), self.recall()
        return 2 * p * r / (p + r) if p + r else 0.0

    def row(self, name: str) -> str:
        return (
            f"| {name} | {self.precision():.2f} | {self.recall():.2f} | {self.f1():.2f} "
            f"| {self.tp} | {self.fp} | {self.fn} | {self.tn} |"
        )


class Method:
    """The service's two ways of finding a question like another."""

    def __init__(self) -> None:
        self._embedder = WordLlamaEmbedder()

    def stored(self, question: dict[str, str]) -> tuple[bytes, set[str]]:
        vector = self._embedder.embed(similarity.text_of(question["title"], question["body"]))
        return similarity.pack(vector), set(similarity.bucket_keys(vector))

    def score(self, a: dict[str, str], b: dict[str, str], duplicate: bool, topic: str) -> Scored:
        (va, ka), (vb, kb) = self.stored(a), self.stored(b)
        indexed = IndexedText.of(a["title"], a["body"], [])
        hint, _ = relevance(terms(b["title"]), indexed.terms, indexed.title_terms)
        return Scored(duplicate, topic, similarity.cosine(va, vb), bool(ka & kb), hint > 0)


def meaning_says(scored: list[Scored], threshold: float) -> list[bool]:
    return [s.shares_key and s.cosine >= threshold for s in scored]


def choose(scored: list[Scored], unrelated: list[Scored]) -> float:
    """The threshold with the best F1 on ``scored`` among those suggesting at most ``UNRELATED_MAX`` of
    the ``unrelated`` pairs (the lowest of equals)."""
    truth = [s.duplicate for s in scored]
    allowed = [t for t in GRID if sum(meaning_says(unrelated, t)) <= UNRELATED_MAX * len(unrelated)]
    return max(allowed, key=lambda t: (Counts.of(truth, meaning_says(scored, t)).f1(), -t))


def table(title: str, scored: list[Scored], threshold: float) -> list[str]:
    truth = [s.duplicate for s in scored]
    return [
        f"{title} ({len(scored)} pairs, {sum(truth)} duplicates)",
        "",
        "| method | precision | recall | F1 | TP | FP | FN | TN |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        Counts.of(truth, meaning_says(scored, threshold)).row(f"meaning, cosine ≥ {threshold:.2f}"),
        Counts.of(truth, [s.cosine >= threshold for s in scored]).row(
            "meaning, cosine only (no bucket gate)"
        ),
        Counts.of(truth, [s.terms_hint for s in scored]).row("terms (today's hint)"),
        "",
    ]


def unrelated_pairs(method: Method, rows: list[dict[str, Any]]) -> list[Scored]:
    """Each pair's ``b`` against the ``a`` of the next pair from another topic: not duplicates."""
    scored = []
    for i, row in enumerate(rows):
        other = next(o for o in rows[i + 1 :] + rows[:i] if o["topic"] != row["topic"])
        scored.append(method.score(other["a"], row["b"], False, "unrelated"))
    return scored


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.pairs.read_text().splitlines() if line.strip()]
    method = Method()
    scored = [method.score(r["a"], r["b"], bool(r["duplicate"]), r["topic"]) for r in rows]
    unrelated = unrelated_pairs(method, rows)
    chosen = choose(scored[0::2], unrelated[0::2])
    lines = [
        f"Threshold chosen on the even-numbered pairs: {chosen:.2f} (configured: {similarity.THRESHOLD})",
        "",
    ]
    lines += table("Odd-numbered pairs (held out)", scored[1::2], chosen)
    lines += table("All pairs", scored, chosen)
    lines += table(
        f"All pairs at the configured threshold {similarity.THRESHOLD}", scored, similarity.THRESHOLD
    )
    for topic in dict.fromkeys(s.topic for s in scored):
        lines += table(
            f"{topic}, at the configured threshold",
            [s for s in scored if s.topic == topic],
            similarity.THRESHOLD,
        )
    said = meaning_says(unrelated, similarity.THRESHOLD)
    said_all = meaning_says(scored, similarity.THRESHOLD)
    terms_missed = sum(not s.terms_hint for s in scored if s.duplicate)

    def only_meaning(duplicate: bool) -> int:
        pairs = zip(scored, said_all, strict=True)
        return sum(m and not s.terms_hint for s, m in pairs if s.duplicate == duplicate)

    lines += [
        f"Unrelated pairs (another topic's question), {len(unrelated)}: meaning suggests {sum(said)}, "
        f"terms suggests {sum(s.terms_hint for s in unrelated)}.",
        "",
        f"Mean cosine: duplicates {_mean([s.cosine for s in scored if s.duplicate]):.3f}, "
        f"near misses {_mean([s.cosine for s in scored if not s.duplicate]):.3f}, "
        f"unrelated {_mean([s.cosine for s in unrelated]):.3f}.",
        f"Duplicates the terms miss that meaning finds: {only_meaning(True)} of {terms_missed}; "
        f"near misses meaning suggests that the terms do not: {only_meaning(False)}.",
        f"Duplicate pairs sharing a bucket key: {sum(s.shares_key for s in scored if s.duplicate)} "
        f"of {sum(s.duplicate for s in scored)}.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
