"""Ranking search candidates read from the posts' search documents, as few of them as the page needs.

The candidates of a query are, per query term, the newest ``TERM_CANDIDATES_MAX`` visible posts having
that term (each term one indexed stream, newest first); those the query wants (kind, tag, answered) are
ranked by relevance, then newest, then id. Each stream is read in at most two parts: first enough for a
page, then, only if the page is not settled by then, the rest of its window. A page is settled when its
``needed`` best candidates read so far all have the highest relevance a post can have for the query (every
term in its title) and are newer than everything still unread: no unread candidate can rank before them.
A one-word query for a word that titles often use is settled by the first part; otherwise every window
is read whole. Either way the page is the one ranking every window in full would give.

The first page of a one-word query is tried first from the term's title stream (posts having the word in
their title, newest first, a second index of the search documents): if its best candidates are settled
there (the title is the highest relevance such a query gives) and all lie within the term's window (fewer
than the window's size of posts with the term are as new), that page is the answer, read from a few
documents and one count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from guild_common.pagination import decode_token, encode_token
from guild_content.app.ports import SearchEntry
from guild_content.domain.posts import POST_KINDS, TOPIC_KINDS
from guild_content.domain.search import TERM_CANDIDATES_MAX, TITLE_WEIGHT, relevance

# The first part of each stream: this many times what the page needs (bounded by the window).
FIRST_PART_FACTOR = 4

Position = tuple[datetime, str]


class TermEntries(Protocol):
    async def term_entries(
        self, community_ids: list[str], term: str, limit: int, after: Position | None
    ) -> list[SearchEntry]: ...

    async def title_entries(self, community_ids: list[str], term: str, limit: int) -> list[SearchEntry]: ...

    async def count_since(self, community_ids: list[str], term: str, since: datetime) -> int: ...


@dataclass(frozen=True)
class Ranked:
    """A search candidate with its relevance: a post's search entry, or (entry None) a resource."""

    relevance: int
    matched: list[str]
    id: str
    create_time: datetime
    entry: SearchEntry | None

    def key(self) -> tuple[int, float, str]:
        return (-self.relevance, -self.create_time.timestamp(), self.id)


def ranked_entries(wanted: list[str], candidates: Iterable[SearchEntry]) -> list[Ranked]:
    """Candidates matching the query, most relevant first, then newest."""
    ranked = []
    for entry in candidates:
        score, matched = relevance(wanted, entry.terms, entry.title_terms)
        if score:
            ranked.append(Ranked(score, matched, entry.id, entry.create_time, entry))
    return sorted(ranked, key=Ranked.key)


def after_token(ranked: list[Ranked], page_token: str) -> list[Ranked]:
    """The ranked candidates after the page token's (relevance, time, id)."""
    position = decode_token(page_token)
    if not position:
        return ranked
    after = (-int(position["r"]), -float(position["t"]), str(position["id"]))
    return [r for r in ranked if r.key() > after]


def next_token(ranked: list[Ranked], size: int) -> str:
    if len(ranked) <= size:
        return ""
    last = ranked[size - 1]
    return encode_token({"r": last.relevance, "t": last.create_time.timestamp(), "id": last.id})


def wanted_by(kinds: tuple[str, ...], tag: str, answered: bool | None) -> Callable[[SearchEntry], bool]:
    """Whether a candidate is of ``kinds``, has ``tag`` (when set) and is answered or not (when set)."""

    def wanted(e: SearchEntry) -> bool:
        if tuple(kinds) == ("question",):
            if e.kind in TOPIC_KINDS:
                return False
        elif set(kinds) != set(POST_KINDS) and e.kind not in kinds:
            return False
        if tag and tag not in e.tags:
            return False
        return answered is None or e.answered == answered

    return wanted


@dataclass
class _Stream:
    read: int = 0
    last: Position | None = None
    done: bool = False


async def read_candidates(
    store: TermEntries,
    community_ids: list[str],
    query: list[str],
    wanted: Callable[[SearchEntry], bool],
    *,
    needed: int,
    page_token: str = "",
) -> list[Ranked]:
    """The ranked candidates of ``query`` after ``page_token``, at least the ``needed`` best exact."""
    if len(set(query)) == 1 and not page_token:
        best_first = await _from_titles(store, community_ids, query[0], wanted, needed)
        if best_first is not None:
            return best_first
    streams = {term: _Stream() for term in dict.fromkeys(query)}
    found: dict[str, SearchEntry] = {}
    parts = {term: min(TERM_CANDIDATES_MAX, FIRST_PART_FACTOR * needed) for term in streams}
    best = TITLE_WEIGHT * len(streams)
    while True:
        read = await asyncio.gather(
            *(store.term_entries(community_ids, t, n, streams[t].last) for t, n in parts.items())
        )
        for (term, limit), entries in zip(parts.items(), read, strict=True):
            stream = streams[term]
            stream.read += len(entries)
            if entries:
                stream.last = (entries[-1].create_time, entries[-1].id)
            stream.done = len(entries) < limit or stream.read >= TERM_CANDIDATES_MAX
            for entry in entries:
                if wanted(entry):
                    found.setdefault(entry.id, entry)
        ranked = after_token(ranked_entries(query, found.values()), page_token)
        unread = [s.last for s in streams.values() if not s.done]
        if not unread or _settled(ranked, needed, best, unread):
            return ranked
        parts = {t: TERM_CANDIDATES_MAX - s.read for t, s in streams.items() if not s.done}


async def _from_titles(
    store: TermEntries,
    community_ids: list[str],
    term: str,
    wanted: Callable[[SearchEntry], bool],
    needed: int,
) -> list[Ranked] | None:
    """The ``needed`` best candidates of a one-word query from its title stream; None if not settled there."""
    limit = min(TERM_CANDIDATES_MAX, needed + needed // 4 + 1)
    entries = await store.title_entries(community_ids, term, limit)
    ranked = ranked_entries([term], (e for e in entries if wanted(e)))
    unread = [] if len(entries) < limit else [(entries[-1].create_time, entries[-1].id)]
    if len(ranked) < needed or not _settled(ranked, needed, TITLE_WEIGHT, unread):
        return None
    oldest = min(r.create_time for r in ranked[:needed])
    if await store.count_since(community_ids, term, oldest) >= TERM_CANDIDATES_MAX:
        return None  # some may lie outside the term's window
    return ranked[:needed]


def _settled(ranked: list[Ranked], needed: int, best: int, unread_after: Sequence[Position | None]) -> bool:
    """Whether no unread candidate can rank among the ``needed`` best of ``ranked``: each unread one is
    no newer than the last read position of its stream, so the ``needed``-th best must have the highest
    relevance and be strictly newer than every such position (equal times rank by id, not read order)."""
    if len(ranked) < needed:
        return False
    last = ranked[needed - 1]
    return last.relevance == best and all(p is not None and last.create_time > p[0] for p in unread_after)
