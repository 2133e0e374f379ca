"""Grouping, unread count, mark all read and the notification types beyond answers."""

from __future__ import annotations

from services.notify.tests.support import Events, wait_for_inbox

from guild.events.v1 import community_events_pb2 as community
from guild.events.v1 import content_events_pb2 as content
from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_testing.fixtures import auth


def _posted(question: str, answerer: str, answer_id: str) -> content.AnswerPosted:
    return content.AnswerPosted(
        answer_id=answer_id,
        question_id=question,
        community_id="c1",
        author_id=answerer,
        question_author_id="ann",
        question_title="How do I book leave?" if question == "q1" else "Other",
    )


async def _groups(stub: api_grpc.NotifyServiceStub, who: str, **kw: object) -> list[pb.NotificationGroup]:
    response = await stub.ListNotificationGroups(
        api.ListNotificationGroupsRequest(**kw),  # type: ignore[arg-type]
        metadata=auth(who),
    )
    return list(response.groups)


async def test_answers_on_one_question_group_and_redelivery_counts_once(
    stub: api_grpc.NotifyServiceStub, events: Events
) -> None:
    first = await events.emit("content", "answer_posted", _posted("q1", "bob", "a1"))
    await events.emit("content", "answer_posted", _posted("q1", "cat", "a2"))
    await events.redeliver(first, "again")
    await events.emit("content", "answer_posted", _posted("q2", "eve", "a4"))
    await events.emit("content", "answer_posted", _posted("q1", "dan", "a3"))
    inbox = await wait_for_inbox(stub, "ann", 4)
    assert len(inbox.notifications) == 4
    assert sorted(n.sequence for n in inbox.notifications) == [1, 2, 3, 4]
    assert len({n.group_key for n in inbox.notifications}) == 2

    groups = await _groups(stub, "ann")
    assert [(g.subject_id, g.unread_count, g.total_count, g.latest_actor_id) for g in groups] == [
        ("q1", 3, 3, "dan"),
        ("q2", 1, 1, "eve"),
    ]
    assert groups[0].summary == "3 new answers on \u201cHow do I book leave?\u201d"
    assert groups[1].summary == "eve answered your question \u201cOther\u201d"
    assert (await stub.GetUnreadCount(api.GetUnreadCountRequest(), metadata=auth("ann"))).unread_count == 4

    q1_first = next(n.id for n in inbox.notifications if n.actor_id == "bob")
    await stub.MarkNotificationsRead(
        api.MarkNotificationsReadRequest(notification_ids=[q1_first]), metadata=auth("ann")
    )
    assert [(g.subject_id, g.unread_count) for g in await _groups(stub, "ann")] == [("q1", 2), ("q2", 1)]
    assert (await stub.GetUnreadCount(api.GetUnreadCountRequest(), metadata=auth("ann"))).unread_count == 3

    marked = await stub.MarkAllNotificationsRead(api.MarkAllNotificationsReadRequest(), metadata=auth("ann"))
    assert marked.marked_count == 3
    assert (await stub.GetUnreadCount(api.GetUnreadCountRequest(), metadata=auth("ann"))).unread_count == 0
    assert [g.unread_count for g in await _groups(stub, "ann")] == [0, 0]
    assert await _groups(stub, "ann", unread_only=True) == []
    assert await _groups(stub, "bob") == []
    again = await stub.MarkAllNotificationsRead(api.MarkAllNotificationsReadRequest(), metadata=auth("ann"))
    assert again.marked_count == 0


async def test_roles_milestones_and_removals(stub: api_grpc.NotifyServiceStub, events: Events) -> None:
    def granted(member: str, role: str) -> community.RoleGranted:
        return community.RoleGranted(
            community_id="c1", member_id=member, role=role, previous_role="member", granted_by="owner1"
        )

    await events.emit("community", "role_granted", granted("bob", "member"))
    await events.emit("community", "role_granted", granted("bob", "champion"))

    def vote(previous_value: int, value: int, score: int) -> content.VoteChanged:
        return content.VoteChanged(
            target_kind="answer",
            target_id="a1",
            question_id="q1",
            community_id="c1",
            voter_id=f"v{score}",
            target_author_id="bob",
            previous_value=previous_value,
            value=value,
            score=score,
        )

    for previous_value, value, score in [(0, 1, 9), (0, 1, 10), (1, 0, 9), (0, 1, 10), (0, 1, 11)]:
        await events.emit("content", "vote_changed", vote(previous_value, value, score))
    await events.emit(
        "content",
        "post_removed",
        content.PostRemoved(
            post_id="a1",
            kind="answer",
            community_id="c1",
            author_id="bob",
            removed_by="mod1",
            reason="off topic",
            by_moderator=True,
        ),
    )
    await events.emit(
        "content",
        "post_removed",
        content.PostRemoved(
            post_id="a2", kind="answer", community_id="c1", author_id="bob", removed_by="bob"
        ),
    )
    await events.emit("content", "answer_posted", _posted("q1", "cat", "a5"))  # ann's; marks the end
    await wait_for_inbox(stub, "ann", 1)
    bob = await wait_for_inbox(stub, "bob", 3)
    by_type = {n.type: n for n in bob.notifications}
    assert len(bob.notifications) == 3
    assert by_type[pb.NOTIFICATION_TYPE_ROLE_GRANTED].text == "You were made a champion of the community"
    assert by_type[pb.NOTIFICATION_TYPE_ROLE_GRANTED].actor_id == "owner1"
    assert by_type[pb.NOTIFICATION_TYPE_VOTE_MILESTONE].text == "Your answer reached a score of 10"
    assert by_type[pb.NOTIFICATION_TYPE_POST_REMOVED].text == "A moderator removed your answer: off topic"
