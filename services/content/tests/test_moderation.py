"""Light moderation: flags hide a post pending review; moderators act from a queue; everything is logged."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp

from guild.community.v1 import community_pb2 as community_pb
from guild.community.v1 import community_service_pb2 as community_api
from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import question_pb2 as pb
from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import content_events_pb2 as events
from guild_testing.fixtures import auth

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite


async def _flag(
    suite: Suite, post_id: str, who: str, reason: int = api.FLAG_REASON_SPAM, note: str = ""
) -> api.FlagPostResponse:
    response: api.FlagPostResponse = await suite.content.FlagPost(
        api.FlagPostRequest(post_id=post_id, reason=reason, note=note),  # type: ignore[arg-type]
        metadata=auth(who),
    )
    return response


async def _moderate(
    suite: Suite, post_id: str, action: int, reason: str = "reviewed"
) -> api.ModeratePostResponse:
    response: api.ModeratePostResponse = await suite.content.ModeratePost(
        api.ModeratePostRequest(post_id=post_id, action=action, reason=reason),  # type: ignore[arg-type]
        metadata=auth("olivia"),
    )
    return response


async def _code(suite: Suite, call: Awaitable[object]) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return (caught.value.code(), *suite.reason(caught.value))


async def test_flags_hide_a_post_and_moderators_review_it(suite: Suite) -> None:
    for person in ("carl", "dave", "erin"):
        await suite.community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=suite.community_id), metadata=auth(person)
        )
    question = await suite.ask("ann", title="Cheap watches for sale")
    assert (await _flag(suite, question.id, "carl")).flag_count == 1
    code, reason, _ = await _code(suite, _flag(suite, question.id, "carl"))
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "ALREADY_FLAGGED")
    code, reason, _ = await _code(suite, _flag(suite, question.id, "ann"))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "OWN_POST")
    code, _, fields = await _code(suite, _flag(suite, question.id, "dave", api.FLAG_REASON_OTHER))
    assert (code, "note" in fields) == (grpc.StatusCode.INVALID_ARGUMENT, True)
    code, _, fields = await _code(suite, _flag(suite, question.id, "dave", api.FLAG_REASON_UNSPECIFIED))
    assert (code, "reason" in fields) == (grpc.StatusCode.INVALID_ARGUMENT, True)

    assert (await _flag(suite, question.id, "dave", api.FLAG_REASON_OFFENSIVE)).hidden is False
    third = await _flag(suite, question.id, "erin", api.FLAG_REASON_OTHER, note="advertising")
    assert (third.flag_count, third.hidden) == (3, True)

    # Hidden pending review: gone for members, still there for its author and the moderators.
    code, _, _ = await _code(suite, suite.get(question.id, "bob"))
    assert code == grpc.StatusCode.NOT_FOUND
    assert (await suite.get(question.id, "ann")).question.id == question.id
    assert (await suite.get(question.id, "olivia")).question.id == question.id
    listed = await suite.content.ListQuestions(
        api.ListQuestionsRequest(community_id=suite.community_id), metadata=auth("bob")
    )
    assert list(listed.questions) == []

    code, reason, _ = await _code(
        suite,
        suite.content.ListModerationQueue(
            api.ListModerationQueueRequest(community_id=suite.community_id), metadata=auth("bob")
        ),
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_A_MODERATOR")
    queue = await suite.content.ListModerationQueue(
        api.ListModerationQueueRequest(community_id=suite.community_id), metadata=auth("olivia")
    )
    assert [(i.post_id, i.flag_count, list(i.reasons), i.hidden, i.excerpt) for i in queue.items] == [
        (question.id, 3, ["offensive", "other", "spam"], True, "Cheap watches for sale")
    ]

    code, _, fields = await _code(
        suite, _moderate(suite, question.id, api.MODERATION_ACTION_RESTORE, reason=" ")
    )
    assert (code, "reason" in fields) == (grpc.StatusCode.INVALID_ARGUMENT, True)
    restored = await _moderate(suite, question.id, api.MODERATION_ACTION_RESTORE, "not spam after all")
    assert restored.hidden is False
    assert (await suite.get(question.id, "bob")).question.id == question.id
    empty = await suite.content.ListModerationQueue(
        api.ListModerationQueueRequest(community_id=suite.community_id), metadata=auth("olivia")
    )
    assert list(empty.items) == []
    # A further flag queues it again, but the restore stands.
    again = await _flag(suite, question.id, "bob", api.FLAG_REASON_OFF_TOPIC)
    assert (again.flag_count, again.hidden) == (4, False)
    requeued = await suite.content.ListModerationQueue(
        api.ListModerationQueueRequest(community_id=suite.community_id), metadata=auth("olivia")
    )
    assert [(i.post_id, i.flag_count, i.hidden) for i in requeued.items] == [(question.id, 4, False)]

    received = await suite.content_events(7)
    kinds = [e.type.split(".")[2] for e in received]
    assert kinds == [
        "question_asked",
        "post_flagged",
        "post_flagged",
        "post_flagged",
        "post_hidden",
        "post_restored",
        "post_flagged",
    ]
    hidden_event = received[4].payload(events.PostHidden)
    assert (hidden_event.by_flags, hidden_event.flag_count, hidden_event.author_id) == (True, 3, "ann")
    restored_event = received[5].payload(events.PostRestored)
    assert (restored_event.restored_by, restored_event.reason) == ("olivia", "not spam after all")


async def test_locks_deletes_and_the_moderation_log(suite: Suite) -> None:
    question = await suite.ask("ann")
    answer = await suite.answer(question.id, "bob")
    code, reason, _ = await _code(
        suite,
        suite.content.ModeratePost(
            api.ModeratePostRequest(post_id=question.id, action=api.MODERATION_ACTION_LOCK, reason="heated"),
            metadata=auth("bob"),
        ),
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_A_MODERATOR")

    locked = await _moderate(suite, question.id, api.MODERATION_ACTION_LOCK, "heated thread")
    assert locked.locked is True
    writes = [
        suite.answer(question.id, "olivia"),
        suite.content.CastVote(
            api.CastVoteRequest(target_id=question.id, direction=pb.VOTE_DIRECTION_UP), metadata=auth("bob")
        ),
        suite.content.AddComment(api.AddCommentRequest(post_id=question.id, body="hm"), metadata=auth("bob")),
        suite.content.EditPost(
            api.EditPostRequest(post_id=question.id, body="changed"), metadata=auth("ann")
        ),
    ]
    for write in writes:
        code, reason, _ = await _code(suite, write)
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "POST_LOCKED")
    # Locked posts stay readable.
    assert (await suite.get(question.id, "bob")).question.id == question.id
    assert (await _moderate(suite, question.id, api.MODERATION_ACTION_UNLOCK, "calm again")).locked is False
    await suite.answer(question.id, "olivia", body="Now open")

    hidden = await _moderate(suite, answer.id, api.MODERATION_ACTION_HIDE, "off topic")
    assert (hidden.kind, hidden.hidden) == ("answer", True)
    assert [a.body for a in (await suite.get(question.id, "bob")).answers] == ["Now open"]
    deleted = await _moderate(suite, answer.id, api.MODERATION_ACTION_DELETE, "spam link")
    assert deleted.deleted is True
    assert (await suite.get(question.id, "ann")).question.answer_count == 1

    log = await suite.content.ListModerationLog(
        api.ListModerationLogRequest(community_id=suite.community_id, page_size=2), metadata=auth("olivia")
    )
    second = await suite.content.ListModerationLog(
        api.ListModerationLogRequest(community_id=suite.community_id, page_token=log.next_page_token),
        metadata=auth("olivia"),
    )
    entries = [*log.entries, *second.entries]
    assert [(e.action, e.post_id, e.actor_id, e.reason) for e in entries] == [
        ("delete", answer.id, "olivia", "spam link"),
        ("hide", answer.id, "olivia", "off topic"),
        ("unlock", question.id, "olivia", "calm again"),
        ("lock", question.id, "olivia", "heated thread"),
    ]
    received = await suite.content_events(7)
    removed = [e.payload(events.PostRemoved) for e in received if e.type.endswith("post_removed.v1")]
    assert [(r.post_id, r.by_moderator, r.author_id, r.reason) for r in removed] == [
        (answer.id, True, "bob", "spam link")
    ]
    locks = [e.payload(events.PostLocked) for e in received if e.type.endswith("post_locked.v1")]
    assert [(lk.locked, lk.locked_by) for lk in locks] == [(True, "olivia"), (False, "olivia")]


async def test_concurrent_flags_count_every_member_and_hide_once(suite: Suite) -> None:
    flaggers = [f"flagger{i}" for i in range(8)]
    for person in flaggers:
        await suite.community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=suite.community_id), metadata=auth(person)
        )
    question = await suite.ask("ann", title="Buy followers")
    results = await asyncio.gather(*(_flag(suite, question.id, who) for who in flaggers))
    # Each answer is the count when that flag was recounted; the last recount sees every flag.
    assert max(r.flag_count for r in results) == len(flaggers)
    assert all(r.hidden == (r.flag_count >= 3) for r in results)
    queue = await suite.content.ListModerationQueue(
        api.ListModerationQueueRequest(community_id=suite.community_id), metadata=auth("olivia")
    )
    assert [(i.flag_count, i.hidden) for i in queue.items] == [(len(flaggers), True)]
    received = await suite.content_events(1 + len(flaggers) + 1)
    kinds = [e.type.split(".")[2] for e in received]
    assert kinds.count("post_flagged") == len(flaggers)
    assert kinds.count("post_hidden") == 1
    log = await suite.content.ListModerationLog(
        api.ListModerationLogRequest(community_id=suite.community_id), metadata=auth("olivia")
    )
    assert [e.action for e in log.entries] == ["auto_hide"]


async def test_a_community_threshold_change_reaches_content(suite: Suite) -> None:
    for person in ("carl", "dave", "erin", "fred"):
        await suite.community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=suite.community_id), metadata=auth(person)
        )
    await suite.community.UpdateCommunity(
        community_api.UpdateCommunityRequest(
            community=community_pb.Community(
                id=suite.community_id,
                settings=community_pb.CommunitySettings(auto_hide_flag_threshold=4),
            ),
            update_mask=FieldMask(paths=["settings.auto_hide_flag_threshold"]),
        ),
        metadata=auth("olivia"),
    )
    views = suite.content_service.app.infra.db.community_views

    async def raised() -> bool:
        doc = await views.find_one({"_id": suite.community_id})
        return doc is not None and doc.get("flag_threshold") == 4

    await suite.eventually(raised)
    # A late copy of an older update does not lower it again.
    stale = Timestamp()
    stale.FromDatetime(datetime.now(UTC) - timedelta(hours=1))
    await suite.publish_community_event(
        "community_updated",
        community_events.CommunityUpdated(
            community_id=suite.community_id, visibility="open", auto_hide_flag_threshold=2, update_time=stale
        ),
        subject=suite.community_id,
    )
    await suite.settle_community_events()

    question = await suite.ask("ann", title="Cheap watches for sale")
    for person in ("carl", "dave", "erin"):
        assert (await _flag(suite, question.id, person)).hidden is False
    assert (await suite.get(question.id, "bob")).question.id == question.id
    fourth = await _flag(suite, question.id, "fred")
    assert (fourth.flag_count, fourth.hidden) == (4, True)
