"""Received events become notifications: who hears of what, once per event however often it is
delivered, on the channels each recipient chose. On in-memory ports (no FerretDB, no NATS)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from services.notify.tests.app_world import UNSUBSCRIBE_URL, World, meta, who

from guild_notify.app.preferences import PreferencesChange
from guild_notify.domain import integration_events as ie
from guild_notify.domain.notifications import NotificationType
from guild_notify.domain.preferences import Channels


@pytest.fixture
def world() -> World:
    return World()


def _posted(
    answerer: str = "bob", asker: str = "ann", *, question: str = "q1", community: str = "c1"
) -> ie.AnswerPosted:
    return ie.AnswerPosted(
        meta=meta(),
        question_id=question,
        question_title="How do I book leave?",
        question_author_id=asker,
        author_id=answerer,
        community_id=community,
        answer_id=f"a-{answerer}",
    )


def _types(world: World, member: str) -> list[NotificationType]:
    return [n.type for n in world.inbox.notifications.values() if n.recipient_id == member]


async def test_the_asker_hears_of_answers_and_the_answerer_of_acceptance(world: World) -> None:
    await world.handle(_posted())
    await world.handle(
        ie.AnswerAccepted(
            meta=meta(),
            question_id="q1",
            question_title="How do I book leave?",
            answer_author_id="bob",
            accepted_by="ann",
            community_id="c1",
        )
    )
    [ann] = [n for n in world.inbox.notifications.values() if n.recipient_id == "ann"]
    assert (ann.type, ann.actor_id, ann.subject_id, ann.sequence) == (
        NotificationType.NEW_ANSWER,
        "bob",
        "q1",
        1,
    )
    assert ann.text == "bob answered your question \u201cHow do I book leave?\u201d"
    assert _types(world, "bob") == [NotificationType.ANSWER_ACCEPTED]
    assert world.live.woken == ["ann", "bob"]


async def test_a_redelivered_event_notifies_once_and_nobody_hears_of_their_own_act(world: World) -> None:
    posted = _posted()
    await world.handle(posted)
    await world.handle(posted)  # redelivered: same event id
    await world.handle(_posted(answerer="ann"))  # her own answer
    await world.handle(
        ie.AnswerAccepted(
            meta=meta(),
            question_id="q1",
            question_title="T",
            answer_author_id="bob",
            accepted_by="bob",
            community_id="c1",
        )
    )
    assert _types(world, "ann") == [NotificationType.NEW_ANSWER]
    assert _types(world, "bob") == []
    assert world.live.woken == ["ann"]  # the redelivery woke no stream
    assert await world.inbox.unread_count("ann") == 1


async def test_vote_milestones_are_announced_once_per_post_and_milestone(world: World) -> None:
    def vote(previous: int, value: int, score: int, voter: str = "v") -> ie.VoteChanged:
        return ie.VoteChanged(
            meta=meta(),
            target_kind="answer",
            target_id="a1",
            community_id="c1",
            target_author_id="ann",
            voter_id=voter,
            previous_value=previous,
            value=value,
            score=score,
        )

    await world.handle(vote(0, 1, 9))
    await world.handle(vote(0, 1, 10, "v1"))
    await world.handle(vote(1, 0, 9, "v1"))  # dips...
    await world.handle(vote(0, 1, 10, "v2"))  # ...and recovers: not announced again
    await world.handle(vote(0, 1, 25, "v3"))
    texts = sorted(n.text for n in world.inbox.notifications.values())
    assert texts == ["Your answer reached a score of 10", "Your answer reached a score of 25"]


async def test_roles_badges_comments_mentions_and_moderation_reach_the_member_concerned(world: World) -> None:
    await world.handle(ie.RoleGranted(meta(), "c1", "ann", "champion", "olga"))
    await world.handle(ie.RoleGranted(meta(), "c1", "bob", "member", "olga"))  # not news
    await world.handle(ie.BadgeAwarded(meta(), "aw1", "c1", "ann", "first_answer", "", "well done", ""))
    await world.handle(ie.CommentPosted(meta(), "q1", "question", "c1", "ann", "cat"))
    await world.handle(ie.CommentPosted(meta(), "q1", "question", "c1", "ann", "ann"))  # her own
    await world.handle(ie.MentionMade(meta(), "ann", "p1", "answer", "c1", "dan"))
    await world.handle(ie.MentionMade(meta(), "dan", "p1", "answer", "c1", "dan"))  # himself
    await world.handle(ie.PostRemoved(meta(), "p2", "answer", "c1", "ann", "mod", "spam", True))
    await world.handle(ie.PostRemoved(meta(), "p3", "answer", "c1", "ann", "ann", "", False))  # deleted it
    await world.handle(ie.PostHidden(meta(), "p4", "question", "c1", "ann", "mod", "rude", False, 0))
    await world.handle(ie.PostRestored(meta(), "p4", "question", "c1", "ann", "mod", ""))
    texts = {n.type: n.text for n in world.inbox.notifications.values() if n.recipient_id == "ann"}
    assert texts == {
        NotificationType.ROLE_GRANTED: "You were made a champion of the community",
        NotificationType.BADGE_EARNED: "You earned the badge \u201cfirst_answer\u201d: well done",
        NotificationType.NEW_COMMENT: "cat commented on your question",
        NotificationType.MENTION: "dan mentioned you in a answer",
        NotificationType.POST_REMOVED: "A moderator removed your answer: spam",
        NotificationType.POST_HIDDEN: "Your question was hidden: rude",
        NotificationType.POST_RESTORED: "Your question was restored",
    }
    assert _types(world, "bob") == []
    assert _types(world, "dan") == []


async def test_flags_reach_the_moderators_and_join_requests_the_owners(world: World) -> None:
    await world.join("c1", "mod1", "mod2", role="moderator")
    await world.join("c1", "own1", role="owner")
    await world.join("c1", "ann")
    await world.join("c2", "mod9", role="moderator")
    flagged = ie.PostFlagged(meta(), "q1", "question", "c1", "mod2", "rude", 1)
    await world.handle(flagged)
    await world.handle(flagged)  # redelivered
    await world.handle(ie.PostHidden(meta(), "q1", "question", "c1", "mod2", "", "", True, 3))
    await world.handle(ie.PostHidden(meta(), "q2", "question", "c1", "ann", "mod1", "", False, 0))
    await world.handle(ie.JoinRequested(meta(), "c1", "zed"))
    assert sorted(n.text for n in world.inbox.notifications.values() if n.recipient_id == "mod1") == [
        "A question was flagged (1 flag): rude",
        "A question was hidden after 3 flags: please review it",
    ]
    own = sorted(n.text for n in world.inbox.notifications.values() if n.recipient_id == "own1")
    assert own == [
        "A question was flagged (1 flag): rude",
        "A question was hidden after 3 flags: please review it",
        "zed asks to join your community",
    ]
    # The flagged author hears only that the post was hidden; ann only of her own hidden post.
    assert _types(world, "mod2") == [NotificationType.POST_HIDDEN]
    assert _types(world, "ann") == [NotificationType.POST_HIDDEN]
    assert _types(world, "mod9") == []  # another community
    [request] = [n for n in world.inbox.notifications.values() if n.type is NotificationType.JOIN_REQUESTED]
    assert (request.recipient_id, request.actor_id, request.subject_id) == ("own1", "zed", "c1")


async def test_flaggers_stay_anonymous(world: World) -> None:
    await world.join("c1", "mod1", role="moderator")
    await world.handle(ie.PostFlagged(meta(), "q1", "", "c1", "ann", "", 2))
    [n] = world.inbox.notifications.values()
    assert (n.actor_id, n.text) == ("", "A post was flagged (2 flags)")


async def test_muted_communities_and_channels_turned_off_are_respected(world: World) -> None:
    await world.prefs_uc.update(
        who("ann"),
        PreferencesChange(
            channels={NotificationType.ANSWER_ACCEPTED: Channels(in_app=False, email=False)},
            muted_community_ids=["muted"],
        ),
    )
    await world.handle(_posted(community="muted"))
    await world.handle(ie.AnswerAccepted(meta(), "q9", "T", "ann", "bob", "c1"))
    await world.handle(_posted(question="q2", answerer="cat"))
    assert [(n.type, n.community_id) for n in world.inbox.notifications.values()] == [
        (NotificationType.NEW_ANSWER, "c1")
    ]
    assert world.emails.queued == []  # no address: no email


async def test_email_goes_to_members_who_want_it_with_an_unsubscribe_link_that_works(world: World) -> None:
    await world.prefs_uc.update(who("ann"), PreferencesChange(email_address="ann@example.com"))
    accepted = ie.AnswerAccepted(meta(), "q1", "How do I book leave?", "ann", "bob", "c1")
    await world.handle(accepted)
    await world.handle(accepted)  # redelivered: queued once
    await world.handle(_posted(asker="ann"))  # answers are in-app only by default
    [email] = world.emails.queued
    assert email.to == "ann@example.com"
    assert email.id == f"{accepted.meta.id}:ann:answer_accepted"
    assert "How do I book leave?" in email.text
    link = next(word for word in email.text.split() if word.startswith(UNSUBSCRIBE_URL))
    token = parse_qs(urlsplit(link).query)["token"][0]
    await world.prefs_uc.unsubscribe(token)
    prefs = await world.preferences.get("ann")
    assert prefs.channels_for(NotificationType.ANSWER_ACCEPTED) == Channels(in_app=True, email=False)
    await world.handle(ie.AnswerAccepted(meta(), "q2", "Another", "ann", "bob", "c1"))
    assert len(world.emails.queued) == 1
    assert len(_types(world, "ann")) == 3  # still in the inbox


async def test_a_type_turned_off_in_the_inbox_may_still_come_by_email(world: World) -> None:
    email_only = Channels(in_app=False, email=True)
    await world.prefs_uc.update(
        who("ann"),
        PreferencesChange(email_address="ann@example.com", channels={NotificationType.MENTION: email_only}),
    )
    await world.handle(ie.MentionMade(meta(), "ann", "p1", "answer", "c1", "dan"))
    assert world.inbox.notifications == {}
    assert world.live.woken == []
    [email] = world.emails.queued
    assert (email.to, email.subject) == ("ann@example.com", "You were mentioned")
    # A muted community sends neither.
    await world.prefs_uc.update(who("ann"), PreferencesChange(muted_community_ids=["c1"]))
    await world.handle(ie.MentionMade(meta(), "ann", "p2", "answer", "c1", "dan"))
    assert len(world.emails.queued) == 1
