"""Moderation, the unanswered queue and the membership read model's handlers on in-memory ports: flags
and the threshold that hides, the queue and log for moderators only, moderators' actions with their
events, hints of answered questions for champions, and community events applied once and in time order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from services.content.tests.memory import T0, World, memory_world, who

from guild_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from guild_common.events.meta import EventMeta
from guild_content.app.membership_handlers import MembershipHandlers
from guild_content.domain import integration_events as ie
from guild_content.domain.community import Role
from guild_content.domain.moderation import PostFlagged, PostHidden, PostLocked, PostRestored
from guild_content.domain.questions import Question

ANN, BOB, CAT, DAN, MOD, CHAMP = (who(s) for s in ("ann", "bob", "cat", "dan", "mod", "champ"))


@pytest.fixture
def world() -> World:
    world = memory_world(flag_threshold=3)
    world.directory.add_community("c1")
    world.directory.add_community("c2", flag_threshold=1)
    for community in ("c1", "c2"):
        for member in ("ann", "bob", "cat", "dan"):
            world.directory.add_member(community, member)
        world.directory.add_member(community, "mod", Role.MODERATOR)
        world.directory.add_member(community, "champ", Role.CHAMPION)
    return world


async def ask(world: World, title: str = "How do I book leave?", community: str = "c1") -> Question:
    return await world.questions.ask(ANN, community, title, "Where is the form?", ["hr"], "")


# --- flags -------------------------------------------------------------------------------------------


async def test_flags_count_once_per_member_and_hide_at_the_threshold(world: World) -> None:
    question = await ask(world)
    assert await world.moderation.flag(BOB, question.id, "spam", "") == (1, False)
    with pytest.raises(AlreadyExists) as twice:
        await world.moderation.flag(BOB, question.id, "offensive", "")
    assert twice.value.reason == "ALREADY_FLAGGED"
    assert await world.moderation.flag(CAT, question.id, "spam", "") == (2, False)
    assert await world.moderation.flag(DAN, question.id, "off_topic", "") == (3, True)
    flagged = [e for e in world.events if isinstance(e, PostFlagged)]
    assert [e.flag_count for e in flagged] == [1, 2, 3]
    hidden = world.events[-1]
    assert isinstance(hidden, PostHidden)
    assert (hidden.by_flags, hidden.flag_count) == (True, 3)
    # hidden: gone from lists and reads, except for its author and the moderators
    assert (await world.questions.list_questions(BOB, "c1", 10, "")).items == []
    with pytest.raises(NotFound):
        await world.questions.get_question(BOB, question.id, 0)
    assert (await world.questions.get_question(ANN, question.id, 0))[0].hidden
    assert (await world.questions.get_question(MOD, question.id, 0))[0].hidden


async def test_a_communitys_own_threshold_applies(world: World) -> None:
    question = await ask(world, community="c2")
    assert await world.moderation.flag(BOB, question.id, "spam", "") == (1, True)


async def test_flags_are_validated_and_own_posts_cannot_be_flagged(world: World) -> None:
    question = await ask(world)
    with pytest.raises(InvalidArgument) as reason:
        await world.moderation.flag(BOB, question.id, "boring", "")
    assert [v.field for v in reason.value.violations] == ["reason"]
    with pytest.raises(InvalidArgument) as note:
        await world.moderation.flag(BOB, question.id, "other", " ")
    assert [v.field for v in note.value.violations] == ["note"]
    with pytest.raises(FailedPrecondition) as own:
        await world.moderation.flag(ANN, question.id, "spam", "")
    assert own.value.reason == "OWN_POST"
    with pytest.raises(PermissionDenied):
        await world.moderation.flag(who("out"), question.id, "spam", "")
    assert [type(e).__name__ for e in world.events] == ["QuestionAsked"]


# --- queue, log and moderators' actions --------------------------------------------------------------


async def test_the_queue_and_log_are_for_moderators_only(world: World) -> None:
    question = await ask(world)
    await world.moderation.flag(BOB, question.id, "spam", "")
    for reader in (BOB, CHAMP):
        with pytest.raises(PermissionDenied) as denied:
            await world.moderation.moderation_queue(reader, "c1", 10, "")
        assert denied.value.reason == "NOT_A_MODERATOR"
        with pytest.raises(PermissionDenied):
            await world.moderation.moderation_log(reader, "c1", 10, "")
    queue = await world.moderation.moderation_queue(MOD, "c1", 10, "")
    assert [(i.post.id, i.flag_count, i.reasons, i.hidden) for i in queue.items] == [
        (question.id, 1, ["spam"], False)
    ]


async def test_the_queue_pages_oldest_flag_first_without_gaps(world: World) -> None:
    flagged = []
    for i in range(5):
        question = await ask(world, f"Question number {i}?")
        await world.moderation.flag(BOB, question.id, "spam", "")
        flagged.append(question.id)
    seen: list[str] = []
    token = ""
    while True:
        page = await world.moderation.moderation_queue(MOD, "c1", 2, token)
        seen += [i.post.id for i in page.items]
        token = page.next_token
        if not token:
            break
    assert seen == flagged


async def test_moderators_hide_restore_and_lock_with_events_and_a_log(world: World) -> None:
    question = await ask(world)
    await world.moderation.flag(BOB, question.id, "spam", "")
    with pytest.raises(PermissionDenied):
        await world.moderation.moderate(BOB, question.id, "hide", "spam")
    with pytest.raises(InvalidArgument) as reason:
        await world.moderation.moderate(MOD, question.id, "hide", "")
    assert [v.field for v in reason.value.violations] == ["reason"]

    hidden = await world.moderation.moderate(MOD, question.id, "hide", "spam")
    assert hidden.hidden
    assert (await world.moderation.moderation_queue(MOD, "c1", 10, "")).items == []  # resolved
    restored = await world.moderation.moderate(MOD, question.id, "restore", "fine after all")
    assert not restored.hidden
    locked = await world.moderation.moderate(MOD, question.id, "lock", "heated")
    assert locked.locked
    unlocked = await world.moderation.moderate(MOD, question.id, "unlock", "calm")
    assert not unlocked.locked
    actions = world.events[-4:]
    assert isinstance(actions[0], PostHidden)
    assert (actions[0].hidden_by, actions[0].by_flags) == ("mod", False)
    assert isinstance(actions[1], PostRestored)
    assert isinstance(actions[2], PostLocked)
    assert actions[2].locked
    assert isinstance(actions[3], PostLocked)
    assert not actions[3].locked
    log = await world.moderation.moderation_log(MOD, "c1", 10, "")
    assert [(e.action, e.reason) for e in log.items] == [
        ("unlock", "calm"),
        ("lock", "heated"),
        ("restore", "fine after all"),
        ("hide", "spam"),
    ]
    assert len((await world.questions.list_questions(BOB, "c1", 10, "")).items) == 1


async def test_a_locked_post_takes_no_votes_comments_or_edits(world: World) -> None:
    question = await ask(world)
    await world.moderation.moderate(MOD, question.id, "lock", "heated")
    for refused in (
        world.questions.vote(BOB, question.id, 1),
        world.questions.add_comment(BOB, question.id, "A comment", ""),
    ):
        with pytest.raises(FailedPrecondition) as locked:
            await refused
        assert locked.value.reason == "POST_LOCKED"


async def test_a_moderators_delete_removes_the_post_and_is_logged(world: World) -> None:
    question = await ask(world)
    answer = await world.questions.answer(BOB, question.id, "Buy my product.", "")
    deleted = await world.moderation.moderate(MOD, answer.id, "delete", "spam")
    assert deleted.deleted
    assert world.events[-1].__class__.__name__ == "PostRemoved"
    assert (await world.questions.get_question(ANN, question.id, 10))[1] == []
    log = await world.moderation.moderation_log(MOD, "c1", 10, "")
    assert [(e.action, e.post.id) for e in log.items] == [("delete", answer.id)]


# --- unanswered queue --------------------------------------------------------------------------------


async def test_the_unanswered_queue_is_for_champions_and_hints_answered_questions(world: World) -> None:
    answered = await ask(world, "Booking annual leave online")
    await world.questions.answer(BOB, answered.id, "Use the HR portal.", "")
    waiting = await ask(world, "Annual leave booking rules")
    await ask(world, "Parking permits for visitors")
    with pytest.raises(PermissionDenied) as member:
        await world.unanswered.unanswered(BOB, "c1", 1, 10, "")
    assert member.value.reason == "NOT_A_CHAMPION"
    with pytest.raises(InvalidArgument) as age:
        await world.unanswered.unanswered(CHAMP, "c1", -1, 10, "")
    assert [v.field for v in age.value.violations] == ["min_age_minutes"]

    world.clock.now = T0 + timedelta(hours=2)
    items, token = await world.unanswered.unanswered(CHAMP, "c1", 30, 10, "")
    assert token == ""
    assert [i.question.id for i in items][:1] == [waiting.id]
    assert [h.question.id for h in items[0].similar] == [answered.id]
    assert items[1].similar == []
    # read again from the hints stored by the first read: the same answer
    again, _ = await world.unanswered.unanswered(CHAMP, "c1", 30, 10, "")
    assert [[h.question.id for h in i.similar] for i in again] == [[answered.id], []]


async def test_the_unanswered_queue_sees_a_hint_deleted_since(world: World) -> None:
    answered = await ask(world, "Booking annual leave online")
    await world.questions.answer(BOB, answered.id, "Use the HR portal.", "")
    await ask(world, "Annual leave booking rules")
    world.clock.now = T0 + timedelta(hours=2)
    first, _ = await world.unanswered.unanswered(CHAMP, "c1", 30, 10, "")
    assert [h.question.id for h in first[0].similar] == [answered.id]
    await world.questions.delete(ANN, answered.id, "")
    later, _ = await world.unanswered.unanswered(CHAMP, "c1", 30, 10, "")
    assert later[0].similar == []


# --- community events --------------------------------------------------------------------------------


def _meta(event_id: str) -> EventMeta:
    return EventMeta(event_id, "t", "/guild/community", "s", T0, "emea", "induction")


async def test_community_events_build_the_directory_and_redelivery_changes_nothing() -> None:
    world = memory_world()
    handlers = MembershipHandlers(world.directory)
    created = ie.CommunityCreated(_meta("e1"), "c9", "emea", "induction", "live", "open", T0)
    joined = ie.MemberJoined(_meta("e2"), "c9", "eve", Role.MEMBER, T0 + timedelta(minutes=1))
    for event in (created, joined, created, joined):
        await handlers.handlers()[type(event)](event)
    question = await world.questions.ask(who("eve"), "c9", "First question here?", "", [], "")
    assert question.community_id == "c9"

    left = ie.MemberLeft(_meta("e3"), "c9", "eve", T0 + timedelta(minutes=3))
    await handlers.member_left(left)
    await handlers.member_joined(joined)  # a late redelivery of the join: older than the leave
    with pytest.raises(PermissionDenied):
        await world.questions.ask(who("eve"), "c9", "Second question here?", "", [], "")


async def test_role_and_settings_events_apply_in_time_order() -> None:
    world = memory_world()
    handlers = MembershipHandlers(world.directory)
    await handlers.community_created(
        ie.CommunityCreated(_meta("e1"), "c9", "emea", "induction", "live", "open", T0)
    )
    await handlers.member_joined(ie.MemberJoined(_meta("e2"), "c9", "eve", Role.MEMBER, T0))
    await handlers.role_changed(
        ie.RoleChanged(_meta("e3"), "c9", "eve", Role.MODERATOR, T0 + timedelta(minutes=2))
    )
    await handlers.role_changed(
        ie.RoleChanged(_meta("e4"), "c9", "eve", Role.MEMBER, T0 + timedelta(minutes=1))
    )
    notice = await world.questions.create_post(
        who("eve"), "c9", "announcement", "Hello all", "Welcome", [], ""
    )
    assert notice.kind == "announcement"

    later = T0 + timedelta(minutes=5)
    await handlers.community_updated(ie.CommunityUpdated(_meta("e5"), "c9", "hidden", 1, later))
    await handlers.community_updated(ie.CommunityUpdated(_meta("e6"), "c9", "open", 9, T0))  # older
    with pytest.raises(NotFound):
        await world.questions.list_posts(who("out"), "c9", "", 10, "")
    await handlers.member_joined(ie.MemberJoined(_meta("e7"), "c9", "fay", Role.MEMBER, later))
    assert await world.moderation.flag(who("fay"), notice.id, "spam", "") == (1, True)

    await handlers.lifecycle_changed(ie.LifecycleChanged(_meta("e8"), "c9", "archived", later))
    with pytest.raises(FailedPrecondition):
        await world.questions.ask(who("fay"), "c9", "After archiving?", "", [], "")
