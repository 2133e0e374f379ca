"""Keyword search terms: how text becomes the normalised terms questions are indexed and ranked by."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

QUERY_TERMS_MAX = 12
# Each query term is one indexed lookup (the multikey ``terms`` index) returning at most this many of the
# newest live items having that term; their union, at most QUERY_TERMS_MAX * TERM_CANDIDATES_MAX items
# per kind of store, is ranked in memory. An old item matching only very common terms may fall outside.
TERM_CANDIDATES_MAX = 200
TITLE_WEIGHT = 2

STOP_WORDS = frozenset(
    " ".join(
        (
            "a about above after again against all am an and any are as at be because been before",
            "being below between both but by can could did do does doing down during each few for",
            "from further had has have having he her here hers herself him himself his how i if in",
            "into is it its itself just me more most my myself no nor not of off on once only or",
            "other our ours ourselves out over own same she should so some such than that the",
            "their theirs them themselves then there these they this those through to too under",
            "until up very was we were what when where which while who whom why will with would",
            "you your yours yourself yourselves anyone anybody get got please thanks",
        )
    ).split()
)
# Words: letters and digits, with + and # kept inside or at the end (c++, c#, f#).
_WORD = re.compile(r"[a-z0-9][a-z0-9+#]*")


def stem(word: str) -> str:
    """A light suffix stripper: plurals and the commonest verb endings, never below three letters."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and not word.endswith("ss") and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + replacement
    return word


def terms(*texts: str) -> list[str]:
    """Distinct normalised terms of ``texts`` in first-seen order: lowercase, no punctuation or stop words."""
    seen: dict[str, None] = {}
    for text in texts:
        for word in _WORD.findall(text.lower()):
            if word not in STOP_WORDS:
                seen.setdefault(stem(word), None)
    return list(seen)


def tag_terms(tags: Iterable[str]) -> list[str]:
    """Tags count as terms whole and by their parts (``annual-leave`` gives annual-leave, annual, leave)."""
    out: dict[str, None] = {}
    for tag in tags:
        out.setdefault(tag, None)
        for part in terms(tag.replace("-", " ").replace(".", " ")):
            out.setdefault(part, None)
    return list(out)


@dataclass(frozen=True)
class IndexedText:
    """What a question stores for search: every term, and those of its title apart for weighting."""

    terms: list[str]
    title_terms: list[str]

    @classmethod
    def of(cls, title: str, body: str, tags: list[str]) -> IndexedText:
        title_terms = terms(title)
        every = dict.fromkeys([*title_terms, *tag_terms(tags), *terms(body)])
        return cls(list(every), title_terms)


def relevance(
    query: list[str], indexed_terms: Iterable[str], title_terms: Iterable[str]
) -> tuple[int, list[str]]:
    """Score of a question for a query: matched terms count once, title matches ``TITLE_WEIGHT`` times."""
    have, in_title = set(indexed_terms), set(title_terms)
    matched = [t for t in query if t in have]
    score = sum(TITLE_WEIGHT if t in in_title else 1 for t in matched)
    return score, matched
