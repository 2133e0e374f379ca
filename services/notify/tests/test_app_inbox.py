"""A member's inbox on in-memory ports: pages merging personal notifications with community notices,
marks (their own only), unread counts, groups and the live stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import timedelta
from typing import cast

import pytest
from services.notify.tests.app_world import World, meta, who

from guild_common.clock import utc_now
from guild_common.errors import InvalidArgument, NotFound
from guild_common.pagination import decode_token
from guild_notify.app.inbox import MARK_MAX, StreamItem, resume_token
from guild_notify.app.preferences import PreferencesChange
from guild_notify.domain import integration_events as ie
from guild_notify.domain.notifications import Notification, NotificationType
from guild_notify.domain.preferences import Channels


@pytest.fixture
def world() -> World:
    return World()


async def _answers(world: World, count: int, asker: str = "ann", question: str = "q1") -> list[str]:
    """``count`` answers to the asker's question, a minute apart; their notification ids, newest first."""
    start = utc_now() - timedelta(hours=1)
    ids = []
    for i in range(count):
        event = ie.AnswerPosted(
            meta=meta(time=start + timedelta(minutes=i)),
            question_id=question,
            question_title="T",
            question_author_id=asker,
            author_id=f"p{i}",
            community_id="c1",
            answer_id=f"a{i}",
        )
        await world.handle(event)
        ids.append(f"{event.meta.id}:{asker}:new_answer")
    return ids[::-1]


async def _all_pages(world: World, member: str, size: int, unread_only: bool = False) -> list[str]:
    seen: list[str] = []
    token = ""
    while True:
        page = await world.inbox_uc.list_notifications(who(member), unread_only, size, token)
        seen += [n.id for n in page.items]
        token = page.next_token
        if not token:
            return seen


async def test_pages_run_newest_first_without_gaps_or_repeats(world: World) -> None:
    ids = await _answers(world, 7)
    page = await world.inbox_uc.list_notifications(who("ann"), False, 0, "")
    assert [n.id for n in page.items] == ids  # the default page size holds them all
    assert page.unread_count == 7
    for size in (1, 2, 3, 7):
        assert await _all_pages(world, "ann", size) == ids
    assert await world.listed("bob") == []


async def test_a_page_token_not_from_this_api_is_invalid(world: World) -> None:
    await _answers(world, 2)
    for token in ("!!", "forged.token", resume_token(3)):
        with pytest.raises(InvalidArgument) as caught:
            await world.inbox_uc.list_notifications(who("ann"), False, 1, token)
        assert [v.field for v in caught.value.violations] == ["page_token"]


async def test_marking_read_is_all_or_nothing_and_only_for_the_member(world: World) -> None:
    ids = await _answers(world, 5)
    bob = await _answers(world, 1, asker="bob")
    with pytest.raises(NotFound) as caught:
        await world.inbox_uc.mark_read(who("bob"), ids[:2])  # ann's: indistinguishable from missing
    assert caught.value.reason == "NOTIFICATION_NOT_FOUND"
    with pytest.raises(NotFound):
        await world.inbox_uc.mark_read(who("ann"), [ids[0], "nope"])
    with pytest.raises(NotFound):
        await world.inbox_uc.mark_read(who("ann"), [ids[0], bob[0]])
    assert await world.inbox.unread_count("ann") == 5  # nothing was marked
    assert await world.inbox_uc.mark_read(who("ann"), [ids[0], ids[1], ids[0]]) == 2
    assert await world.inbox_uc.mark_read(who("ann"), ids[:2]) == 0  # read already
    assert await world.inbox_uc.unread_count(who("ann")) == 3
    assert await _all_pages(world, "ann", 2, unread_only=True) == ids[2:]
    assert await world.inbox_uc.mark_all_read(who("ann")) == 3
    assert await world.inbox_uc.unread_count(who("ann")) == 0
    assert await world.inbox_uc.unread_count(who("bob")) == 1


@pytest.mark.parametrize(
    ("ids", "problem"),
    [
        ([], "must name at least one notification"),
        (["a", ""], "must not contain empty ids"),
        ([f"n{i}" for i in range(MARK_MAX + 1)], f"at most {MARK_MAX} at once"),
    ],
)
async def test_marking_read_needs_ids(world: World, ids: list[str], problem: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await world.inbox_uc.mark_read(who("ann"), ids)
    assert [(v.field, v.description) for v in caught.value.violations] == [("notification_ids", problem)]


async def test_answers_on_one_question_form_one_group(world: World) -> None:
    await _answers(world, 3, question="q1")
    await world.handle(ie.RoleGranted(meta(), "c1", "ann", "owner", "olga"))
    groups, token = await world.inbox_uc.list_groups(who("ann"), False, 0, "")
    assert token == ""
    assert [(g.type, g.total_count, g.unread_count) for g in groups] == [
        (NotificationType.ROLE_GRANTED, 1, 1),
        (NotificationType.NEW_ANSWER, 3, 3),
    ]
    assert groups[1].summary == "3 new answers on \u201cT\u201d"
    assert groups[1].latest_actor_id == "p2"
    await world.inbox_uc.mark_all_read(who("ann"))
    assert await world.inbox_uc.list_groups(who("ann"), True, 10, "") == ([], "")


# --- community notices in the inbox ------------------------------------------------------------------


async def test_broadcasts_merge_into_members_pages_from_their_join_time(world: World) -> None:
    past = utc_now() - timedelta(days=1)
    await world.join("c1", "ann", "cat", at=past)
    await world.join("c1", "bob", role="owner", at=past)
    await world.join("c2", "dan", at=past)
    ids = await _answers(world, 2)
    sent = await world.broadcasts_uc.create(who("bob"), "c1", "Welcome", "", "")
    notice = sent.notification_id
    page = await world.inbox_uc.list_notifications(who("ann"), False, 10, "")
    assert [n.id for n in page.items] == [notice, *ids]
    assert page.unread_count == 3
    assert (page.items[0].recipient_id, page.items[0].actor_id) == ("ann", "bob")
    assert await world.listed("cat") == [notice]
    assert await world.listed("dan") == []  # another community
    assert await _all_pages(world, "ann", 1) == [notice, *ids]
    # Someone who joins later does not see what was sent before.
    await world.join("c1", "fay", at=utc_now() + timedelta(seconds=1))
    assert await world.listed("fay") == []


async def test_read_state_of_a_broadcast_is_each_members_own(world: World) -> None:
    past = utc_now() - timedelta(days=1)
    await world.join("c1", "ann", "cat", at=past)
    await world.join("c1", "bob", role="champion", at=past)
    notice = (await world.broadcasts_uc.create(who("bob"), "c1", "Hello", "", "")).notification_id
    assert await world.inbox_uc.mark_read(who("ann"), [notice]) == 1
    assert await world.inbox_uc.unread_count(who("ann")) == 0
    assert await world.inbox_uc.unread_count(who("cat")) == 1
    with pytest.raises(NotFound):
        await world.inbox_uc.mark_read(who("dan"), [notice])  # not a member
    assert await world.inbox_uc.mark_all_read(who("cat")) == 1
    assert await world.listed("cat", unread_only=True) == []
    # A notice stored after the mark (a second later: one in the same millisecond counts as read).
    await world.handle(
        ie.SurveyOpened(meta(time=utc_now() + timedelta(seconds=1)), "s1", "c1", "bob", "Pulse")
    )
    assert await world.listed("cat", unread_only=True) == ["broadcast:survey-s1"]


async def test_muting_a_community_or_turning_notices_off_hides_them(world: World) -> None:
    past = utc_now() - timedelta(days=1)
    await world.join("c1", "ann", "cat", "eve", at=past)
    await world.handle(ie.SurveyOpened(meta(), "s1", "c1", "olga", "Pulse"))
    await world.handle(ie.ResourceShared(meta(), "r1", "c1", "bob", "Guide"))
    await world.prefs_uc.update(who("ann"), PreferencesChange(muted_community_ids=["c1"]))
    off = Channels(in_app=False, email=False)
    await world.prefs_uc.update(who("cat"), PreferencesChange(channels={NotificationType.NEW_CONTENT: off}))
    assert await world.listed("ann") == []
    assert await world.inbox_uc.unread_count(who("ann")) == 0
    cat = await world.inbox_uc.list_notifications(who("cat"), False, 10, "")
    assert [n.type for n in cat.items] == [NotificationType.SURVEY_OPENED]
    assert cat.unread_count == 1
    assert len(await world.listed("eve")) == 2
    with pytest.raises(NotFound):  # a hidden notice cannot be marked either
        await world.inbox_uc.mark_read(who("cat"), ["broadcast:resource-r1"])


# --- the live stream ---------------------------------------------------------------------------------


async def _close(items: AsyncIterator[StreamItem]) -> None:
    await cast(AsyncGenerator[StreamItem, None], items).aclose()


async def _next(items: AsyncIterator[StreamItem]) -> StreamItem:
    return await asyncio.wait_for(anext(items), timeout=5)


async def test_the_stream_sends_what_is_stored_from_now_on_and_resumes_without_loss(world: World) -> None:
    await _answers(world, 2)  # before the stream: not sent
    ready = asyncio.Event()

    async def on_ready() -> None:
        ready.set()

    stream = world.inbox_uc.stream(who("ann"), "", on_ready=on_ready)
    first = asyncio.ensure_future(_next(stream))
    await asyncio.wait_for(ready.wait(), timeout=5)
    [new] = await _answers(world, 1, question="q2")
    item = await first
    assert item.notification.id == new
    assert item.notification.sequence == 3
    await _close(stream)
    # Resumed from the token: what was stored meanwhile, once, in order.
    later = await _answers(world, 2, question="q3")
    resumed = world.inbox_uc.stream(who("ann"), item.resume_token)
    got = [(await _next(resumed)).notification.id for _ in range(2)]
    assert got == later[::-1]
    await _close(resumed)
    # From the start of the inbox.
    again = world.inbox_uc.stream(who("ann"), resume_token(0))
    assert [(await _next(again)).notification.sequence for _ in range(5)] == [1, 2, 3, 4, 5]
    await _close(again)
    assert world.live.listeners("ann") == 0  # every stream let go of its subscription


async def test_community_notices_stream_to_members_of_the_community(world: World) -> None:
    past = utc_now() - timedelta(days=1)
    await world.join("c1", "ann", at=past)
    await world.join("c1", "bob", role="owner", at=past)
    await world.join("c2", "own2", role="owner", at=past)
    ready = asyncio.Event()

    async def on_ready() -> None:
        ready.set()

    stream = world.inbox_uc.stream(who("ann"), "", on_ready=on_ready)
    first = asyncio.ensure_future(_next(stream))
    await asyncio.wait_for(ready.wait(), timeout=5)
    await world.broadcasts_uc.create(who("own2"), "c2", "Not for ann", "", "")
    sent = await world.broadcasts_uc.create(who("bob"), "c1", "For ann", "", "")
    item = await first
    assert (item.notification.id, item.notification.text) == (sent.notification_id, "For ann")
    assert world.live.watchers("c1") == 1
    await _close(stream)
    assert world.live.watchers("c1") == 0


async def test_a_bad_resume_token_is_invalid(world: World) -> None:
    stream = world.inbox_uc.stream(who("ann"), "forged")
    with pytest.raises(InvalidArgument) as caught:
        await _next(stream)
    assert [v.field for v in caught.value.violations] == ["resume_token"]


async def _open(world: World, member: str, token: str = "") -> AsyncIterator[StreamItem]:
    """A stream once it is live (its positions fixed)."""
    ready = asyncio.Event()

    async def on_ready() -> None:
        ready.set()

    stream = world.inbox_uc.stream(who(member), token, on_ready=on_ready)
    first = asyncio.ensure_future(anext(stream))
    await asyncio.wait_for(ready.wait(), timeout=5)

    async def items() -> AsyncIterator[StreamItem]:
        try:
            yield await asyncio.wait_for(first, timeout=5)
            while True:
                yield await _next(stream)
        finally:
            await _close(stream)

    return items()


async def test_a_notice_passed_over_before_the_membership_is_known_is_streamed_once_it_is(
    world: World,
) -> None:
    # The membership read model may lag: a stream that reads a notice to a community before it knows
    # the member joined passes over it, then sends it once the membership arrives, once.
    past = utc_now() - timedelta(days=1)
    await world.join("c1", "bob", role="owner", at=past)
    ann = await _open(world, "ann")
    sent = await world.broadcasts_uc.create(who("bob"), "c1", "Town hall", "", "")
    await _answers(world, 1, question="a1")
    first = await _next(ann)
    await _answers(world, 1, question="a2")
    second = await _next(ann)
    assert [first.notification.sequence, second.notification.sequence] == [1, 2]
    assert decode_token(second.resume_token)["b"] == 1  # passed the broadcast, not shown it

    await world.join("c1", "ann", at=past)  # the membership lands, late
    [a3] = await _answers(world, 1, question="a3")
    delivered = [await _next(ann) for _ in range(2)]
    assert sorted(d.notification.id for d in delivered) == sorted([sent.notification_id, a3])
    [a4] = await _answers(world, 1, question="a4")
    assert (await _next(ann)).notification.id == a4  # the notice is not sent again
    await _close(ann)


async def test_a_missing_sequence_holds_back_what_follows_until_it_appears(world: World) -> None:
    world = World(gap_grace_seconds=60.0)
    [stored] = await _answers(world, 1)
    first = world.inbox.notifications.pop(stored)  # as if its writer had taken number 1 but not finished
    seen_gap = asyncio.Event()
    after = world.inbox.after

    async def watched(recipient_id: str, sequence: int, limit: int) -> list[Notification]:
        found = await after(recipient_id, sequence, limit)
        if [n.sequence for n in found] == [2]:
            seen_gap.set()
        return found

    world.inbox.after = watched  # type: ignore[method-assign]
    stream = await _open(world, "ann", resume_token(0))
    [second] = await _answers(world, 1, question="q2")
    await asyncio.wait_for(seen_gap.wait(), timeout=5)  # the stream saw number 2 without number 1
    world.inbox.notifications[first.id] = first  # the first writer finishes
    world.live.published("ann")
    assert [(await _next(stream)).notification.id for _ in range(2)] == [stored, second]
    await _close(stream)


async def test_a_number_whose_writer_crashed_is_passed_over(world: World) -> None:
    world = World(gap_grace_seconds=0.0)
    [stored] = await _answers(world, 1)
    world.inbox.notifications.pop(stored)  # never finished
    stream = await _open(world, "ann", resume_token(0))
    [second] = await _answers(world, 1, question="q2")
    item = await _next(stream)
    assert (item.notification.id, item.notification.sequence) == (second, 2)
    await _close(stream)
