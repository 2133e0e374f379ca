"""The notify read models and queues stay right when two replicas write the same documents at once.

Each replica is its own client and repository, as two processes would be; nothing in one process can
serialise them, so only guarded updates in the store keep every change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from pymongo.asynchronous.database import AsyncDatabase

from guild_common.clock import utc_now
from guild_common.mongo import Document
from guild_notify.adapters.broadcasts_store import MongoBroadcasts, MongoMemberships
from guild_notify.adapters.interests_store import MongoTagInterests
from guild_notify.adapters.nudges_store import MongoNudges
from guild_notify.adapters.preferences_store import MongoPreferences
from guild_notify.domain.broadcasts import Broadcast
from guild_notify.domain.preferences import Preferences
from guild_notify.domain.questions import QuestionNudge


async def test_preference_changes_on_two_replicas_are_all_kept(dbs: list[AsyncDatabase[Document]]) -> None:
    stores = [MongoPreferences(db) for db in dbs]
    communities = [f"c{i}" for i in range(20)]

    def mute(community_id: str) -> Callable[[Preferences], Preferences]:
        return lambda p: replace(p, muted_community_ids=p.muted_community_ids | {community_id})

    # Each change mutes one more community, built from the preferences it reads.
    await asyncio.gather(*(stores[i % 2].change("ann", mute(c)) for i, c in enumerate(communities)))
    assert (await stores[0].get("ann")).muted_community_ids == frozenset(communities)


async def test_a_members_communities_on_two_replicas_keep_every_join(
    dbs: list[AsyncDatabase[Document]],
) -> None:
    memberships = [MongoMemberships(db) for db in dbs]
    now = utc_now()
    await asyncio.gather(*(memberships[i % 2].joined(f"c{i}", "ann", "member", now) for i in range(20)))
    await asyncio.gather(*(memberships[i % 2].left(f"c{i}", "ann") for i in range(0, 20, 4)))
    mine = await memberships[1].of_member("ann")
    assert sorted(m.community_id for m in mine) == sorted(f"c{i}" for i in range(20) if i % 4)


async def test_broadcasts_from_two_replicas_take_every_number_once(
    dbs: list[AsyncDatabase[Document]],
) -> None:
    stores = [MongoBroadcasts(db) for db in dbs]
    now = utc_now()
    notices = [Broadcast(f"b{i}", "c1", "olga", f"notice {i}", "", now) for i in range(30)]
    stored = await asyncio.gather(*(store.create(b) for b in notices for store in stores))
    by_id = {b.id: b.sequence for b in stored}
    assert sorted(by_id.values()) == list(range(1, 31))
    assert all(by_id[b.id] == b.sequence for b in stored)  # a repeat answers the stored one


async def test_the_newest_interest_wins_whatever_order_replicas_store_them(
    dbs: list[AsyncDatabase[Document]],
) -> None:
    stores = [MongoTagInterests(db) for db in dbs]
    start = utc_now()
    changes = [(start + timedelta(seconds=i), i % 2 == 0) for i in range(21)]  # the last: following
    await asyncio.gather(
        *(
            (stores[i % 2].followed if following else stores[i % 2].unfollowed)("ann", "python", at)
            for i, (at, following) in reversed(list(enumerate(changes)))
        ),
        *(stores[i % 2].expertise("ann", [f"t{i}"], start + timedelta(seconds=i)) for i in range(10)),
    )
    assert await stores[0].interested(["python", "t9", "t3"]) == {"ann": ["python", "t9"]}


async def test_a_nudge_cancelled_while_it_is_scheduled_stays_cancelled(
    dbs: list[AsyncDatabase[Document]],
) -> None:
    stores = [MongoNudges(db) for db in dbs]
    now = utc_now()
    nudges = [QuestionNudge(f"q{i}", "c1", "t", "ann", now, now) for i in range(20)]
    await asyncio.gather(
        *(stores[0].schedule(n) for n in nudges), *(stores[1].cancel(n.question_id, now) for n in nudges)
    )
    assert await stores[0].due(now, 100) == []
    assert not any([await stores[1].still_pending(n.question_id) for n in nudges])
