"""Questions that mean the same as one being asked: its meaning vector, and its nearest earlier questions.

The vector is computed from the question's bounded text when it is asked (a fraction of a millisecond,
on the calling thread); the candidates are the newest questions of the same community sharing one of its
bucket keys (one indexed read per key, at once), re-ranked by exact cosine; those at or above the
threshold, best first, are stored with the question (``Meaning``). Only visible questions of the one
community are candidates; the posts suggested are read again as visible before they are shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from guild_content.app.ports import Embedder, IndexedQuestion, Meaning, SearchHit
from guild_content.domain.posts import is_question_kind
from guild_content.domain.questions import Question
from guild_content.domain.similarity import (
    CANDIDATES_PER_KEY,
    Neighbour,
    bucket_keys,
    nearest,
    pack,
    text_of,
)


class Candidates(Protocol):
    async def meaning_candidates(
        self, community_id: str, keys: list[str], limit_per_key: int
    ) -> dict[str, bytes]: ...


async def meaning_of(question: Question, embedder: Embedder | None, store: Candidates) -> Meaning | None:
    """The meaning of a question about to be stored, with the earlier questions like it (None for
    other kinds of post, or without an embedder)."""
    alone = vector_of(question.kind, question.title, question.body, embedder)
    if alone is None:
        return None
    candidates = await store.meaning_candidates(question.community_id, alone.keys, CANDIDATES_PER_KEY)
    candidates.pop(question.id, None)  # itself, when a repeated request finds it stored
    return Meaning(alone.vector, alone.keys, nearest(alone.vector, candidates.items()))


def vector_of(kind: str, title: str, body: str, embedder: Embedder | None) -> Meaning | None:
    """The vector and bucket keys of a question's text, without neighbours (an edit keeps those found
    when it was asked); None for other kinds of post, or without an embedder."""
    if embedder is None or not is_question_kind(kind):
        return None
    vector = embedder.embed(text_of(title, body))
    return Meaning(pack(vector), bucket_keys(vector), [])


def meaning_hits(
    neighbours: list[Neighbour], posts: Mapping[str, IndexedQuestion], *, answered_only: bool = False
) -> list[SearchHit]:
    """The neighbours still visible (and answered, if asked), as hits in their order."""
    hits = []
    for n in neighbours:
        found = posts.get(n.id)
        if found is None or (answered_only and found.question.answer_count == 0):
            continue
        hits.append(SearchHit(found.question, 0, [], n.score))
    return hits
