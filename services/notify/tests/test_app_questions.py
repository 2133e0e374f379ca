"""New questions reach the followers and experts of their tags; unanswered ones reach the community's
champions once. On in-memory ports: the sweep is called directly, no timers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from services.notify.tests.app_world import World, meta, who

from guild_common.clock import utc_now
from guild_notify.app.preferences import PreferencesChange
from guild_notify.domain import integration_events as ie
from guild_notify.domain.notifications import Notification, NotificationType
from guild_notify.domain.preferences import Channels

TAGGED = NotificationType.NEW_QUESTION_IN_TAG
UNANSWERED = NotificationType.UNANSWERED_QUESTION


def _asked(question: str, author: str = "ann", tags: tuple[str, ...] = (), **kw: object) -> ie.QuestionAsked:
    at = utc_now()
    return ie.QuestionAsked(
        meta=meta(time=at),
        question_id=question,
        community_id=str(kw.get("community", "c1")),
        title=str(kw.get("title", f"About {question}")),
        author_id=author,
        tags=tags,
        create_time=kw.get("create_time", at),  # type: ignore[arg-type]
    )


def _answered(question: str, by: str = "bob") -> ie.AnswerPosted:
    return ie.AnswerPosted(meta(), question, "T", "ann", by, "c1", f"a-{question}")


def _of(world: World, member: str, type: NotificationType) -> list[Notification]:
    return [n for n in world.inbox.notifications.values() if n.recipient_id == member and n.type is type]


async def test_new_questions_reach_followers_and_experts_of_their_tags_in_the_community(world: World) -> None:
    await world.join("c1", "ann", "bob", "dan", "eve", "fay", "gus", "hal")
    await world.join("c2", "cat")
    at = utc_now()
    for member in ("ann", "cat", "dan", "eve", "fay", "hal"):
        await world.handle(ie.TagFollowed(meta(), member, " Python ", at))
    await world.handle(ie.TagFollowed(meta(), "gus", "go", at))
    await world.handle(ie.TagFollowed(meta(), "nobody", "  ", at))  # no tag: ignored
    await world.handle(ie.TagUnfollowed(meta(), "eve", "python", at + timedelta(seconds=1)))
    await world.handle(ie.ProfileUpdated(meta(), "bob", ("  Python Tips ", "Rust"), at))
    await world.handle(ie.ProfileUpdated(meta(), "gus", ("SQL",), at))
    await world.handle(ie.ProfileUpdated(meta(), "gus", ("Go",), at + timedelta(seconds=1)))
    await world.prefs_uc.update(who("fay"), PreferencesChange(muted_community_ids=["c1"]))
    off = Channels(in_app=False, email=False)
    await world.prefs_uc.update(who("hal"), PreferencesChange(channels={TAGGED: off}))

    asked = _asked("q1", "dan", ("python", "python-tips"), title="Typing a decorator?")
    await world.handle(asked)
    await world.handle(asked)  # redelivered
    await world.handle(_asked("q2", "ann", ("sql",)))

    [ann] = _of(world, "ann", TAGGED)
    assert (ann.subject_id, ann.actor_id, ann.text) == (
        "q1",
        "dan",
        "New question tagged python: \u201cTyping a decorator?\u201d",
    )
    [bob] = _of(world, "bob", TAGGED)
    assert bob.text == "New question tagged python-tips: \u201cTyping a decorator?\u201d"
    for member in ("cat", "dan", "eve", "fay", "gus", "hal"):
        assert _of(world, member, TAGGED) == [], member
    assert sorted(world.feed.items) == ["question:q1", "question:q2"]  # material for the digests


async def test_a_question_schedules_its_nudge_once(world: World) -> None:
    world = World(unanswered_after=timedelta(hours=2), settle=timedelta(minutes=1))
    asked = _asked("q1")
    await world.handle(asked)
    await world.handle(asked)
    assert world.scheduled == 2  # the sweeper is woken each time
    [nudge] = [r.nudge for r in world.nudges.records.values()]
    assert nudge is not None
    assert nudge.due_time == asked.create_time + timedelta(hours=2)
    # Replayed from a backlog older than the delay: not due before the settle time from now.
    old = _asked("q2", create_time=utc_now() - timedelta(days=1))
    before = utc_now()
    await world.handle(old)
    late = world.nudges.records["q2"].nudge
    assert late is not None
    assert late.due_time >= before + timedelta(minutes=1)


@pytest.fixture
def world() -> World:
    return World(unanswered_after=timedelta(0))


async def _champions(world: World) -> None:
    await world.join("c1", "ch1", "ch2", "ch3", role="champion")
    await world.join("c1", "ann")
    await world.handle(ie.RoleRevoked(meta(), "c1", "ch3", "member"))


async def test_unanswered_questions_reach_champions_once_except_the_asker(world: World) -> None:
    await _champions(world)
    await world.handle(_asked("q1", "ch2", title="Nobody knows?"))
    await world.handle(_asked("q2"))
    await world.handle(_answered("q2", by="ch2"))
    await world.handle(_answered("q3", by="ch1"))  # the answer overtook its question
    await world.handle(_asked("q3"))
    await world.handle(_asked("q4"))
    await world.handle(_asked("q5"))
    await world.handle(ie.PostRemoved(meta(), "q5", "question", "c1", "ann", "ann", "", False))
    await world.handle(
        ie.PostRemoved(meta(), "q4", "answer", "c1", "ann", "ann", "", False)
    )  # not the question

    assert await world.nudger.sweep() is False  # fewer than a batch were due
    assert sorted(n.subject_id for n in _of(world, "ch1", UNANSWERED)) == ["q1", "q4"]
    [q1] = [n for n in _of(world, "ch1", UNANSWERED) if n.subject_id == "q1"]
    assert q1.text == "\u201cNobody knows?\u201d has no answer yet: can you help?"
    assert [n.subject_id for n in _of(world, "ch2", UNANSWERED)] == ["q4"]  # not about their own
    assert _of(world, "ch3", UNANSWERED) == []  # no longer a champion
    assert {q: world.nudges.status(q) for q in ("q1", "q2", "q3", "q4", "q5")} == {
        "q1": "sent",
        "q2": "cancelled",
        "q3": "cancelled",
        "q4": "sent",
        "q5": "cancelled",
    }
    # A sweep repeated after a crash between telling and recording tells nobody twice.
    for question in ("q1", "q4"):
        world.nudges.records[question].status = "pending"
    await world.nudger.sweep()
    assert len(_of(world, "ch1", UNANSWERED)) == 2
    assert len(_of(world, "ch2", UNANSWERED)) == 1
    assert await world.nudger.seconds_until_due() is None


async def test_a_nudge_stops_at_the_answer_handled_while_champions_are_told(world: World) -> None:
    await _champions(world)
    await world.handle(_asked("q1"))
    deliver = world.notifier.deliver

    async def answered_meanwhile(n: Notification, *, in_app_allowed: bool = True) -> None:
        await deliver(n, in_app_allowed=in_app_allowed)
        await world.questions.answer_posted(_answered("q1"))  # the answer's nudge handler

    world.notifier.deliver = answered_meanwhile  # type: ignore[method-assign]
    await world.nudger.sweep()
    assert [n.recipient_id for n in world.inbox.notifications.values() if n.type is UNANSWERED] == ["ch1"]
    assert not await world.nudges.still_pending("q1")


async def test_a_nudge_not_yet_due_waits(world: World) -> None:
    world = World(unanswered_after=timedelta(hours=1))
    await _champions(world)
    await world.handle(_asked("q1"))
    await world.nudger.sweep()
    assert world.inbox.notifications == {}
    wait = await world.nudger.seconds_until_due()
    assert wait is not None
    assert 3500 < wait <= 3600
