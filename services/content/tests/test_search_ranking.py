"""Candidates read part by part rank a page exactly as ranking every term's whole window does."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from guild_content.app.ports import SearchEntry
from guild_content.app.search import Position, next_token, read_candidates, wanted_by
from guild_content.domain.search import TERM_CANDIDATES_MAX

WORDS = ["leave", "pension", "laptop", "travel", "badge", "canteen"]
START = datetime(2026, 1, 1, tzinfo=UTC)


class Entries:
    """Search entries in memory, served as the store's index serves them; counts what is read."""

    def __init__(self, entries: list[SearchEntry]) -> None:
        self.entries = sorted(entries, key=lambda e: (e.create_time, e.id), reverse=True)
        self.read = 0
        self.lookups = 0  # of the terms index, not the titles'

    async def term_entries(
        self, community_ids: list[str], term: str, limit: int, after: Position | None
    ) -> list[SearchEntry]:
        found = [
            e
            for e in self.entries
            if term in e.terms
            and e.community_id in community_ids
            and (after is None or (e.create_time, e.id) < after)
        ][:limit]
        self.read += len(found)
        self.lookups += 1
        return found

    async def title_entries(self, community_ids: list[str], term: str, limit: int) -> list[SearchEntry]:
        found = [e for e in self.entries if term in e.title_terms and e.community_id in community_ids][:limit]
        self.read += len(found)
        return found

    async def count_since(self, community_ids: list[str], term: str, since: datetime) -> int:
        return sum(
            term in e.terms and e.community_id in community_ids and e.create_time >= since
            for e in self.entries
        )


def _entries(rng: random.Random, count: int) -> list[SearchEntry]:
    made = []
    for n in range(count):
        title = rng.sample(WORDS, rng.randint(0, 3))
        body = [w for w in rng.sample(WORDS, rng.randint(0, 4)) if w not in title]
        # Few distinct times, so that equal times (ranked by id) occur often.
        time = START + timedelta(minutes=rng.randrange(count // 3 + 1))
        made.append(
            SearchEntry(
                id=f"p{n:04d}",
                community_id=rng.choice(["c1", "c2"]),
                kind=rng.choice(["question", "question", "discussion"]),
                create_time=time,
                tags=[],
                answered=rng.random() < 0.4,
                terms=[*title, *body],
                title_terms=title,
            )
        )
    return made


async def test_a_page_read_in_parts_equals_the_page_of_the_whole_windows() -> None:
    rng = random.Random(7)
    settled_early = from_titles = 0
    for _ in range(60):
        store = Entries(_entries(rng, rng.choice([30, 300, 900])))
        query = rng.sample(WORDS, rng.choice([1, 1, 2, 3]))
        wanted = wanted_by(
            rng.choice([("question",), ("question", "discussion", "article", "announcement")]),
            "",
            rng.choice([None, True, False]),
        )
        size = rng.choice([1, 5, 20])
        token = ""
        for _page in range(4):
            whole = await read_candidates(
                Entries(store.entries),
                ["c1"],
                query,
                wanted,
                needed=10 * TERM_CANDIDATES_MAX,
                page_token=token,
            )
            store.read = store.lookups = 0
            parts = await read_candidates(store, ["c1"], query, wanted, needed=size + 1, page_token=token)
            assert [r.id for r in parts[: size + 1]] == [r.id for r in whole[: size + 1]]
            assert next_token(parts, size) == next_token(whole, size)
            settled_early += store.read < len(query) * TERM_CANDIDATES_MAX and len(whole) > size + 1
            from_titles += store.lookups == 0
            token = next_token(whole, size)
            if not token:
                break
    assert settled_early > 10
    assert from_titles > 2
