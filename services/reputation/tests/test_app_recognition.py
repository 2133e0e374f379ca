"""Contribution summaries on in-memory ports: what a member contributed in a span, read by them, the
owners of their communities and services (leaving out what the reader may not see), and issued for HR
once per request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from services.reputation.tests.app_world import C1, C2, SERVICE, World, meta, who

from guild.events.v1 import reputation_events_pb2 as rep_events
from guild_common.errors import InvalidArgument, NotFound, PermissionDenied
from guild_reputation.domain import integration_events as ev

END = datetime(2026, 3, 1, tzinfo=UTC)
START = END - timedelta(days=365)
TAGS = ("python",)


def ago(days: float) -> datetime:
    return END - timedelta(days=days)


async def contributions() -> World:
    """ann's year in ``C1``: a question, two answers (one accepted for good), a comment, two rated
    resources, two collections, and the champion role for ten days then curator; bob owns ``C1``; zed
    is in ``C2`` only."""
    world = World()
    for member, community, role in (("ann", C1, "member"), ("bob", C1, "owner"), ("zed", C2, "member")):
        await world.join(member, community, role, time=ago(30))
    await world.handle(ev.RoleGranted(meta(time=ago(20)), C1, "ann", "champion", "member", "emea", "sales"))
    await world.handle(ev.RoleRevoked(meta(time=ago(10)), C1, "ann", "champion", "member", "emea", "sales"))
    await world.handle(ev.RoleGranted(meta(time=ago(5)), C1, "ann", "curator", "member", "emea", "sales"))
    await world.handle(ev.QuestionAsked(meta(time=ago(9)), "q1", C1, "ann", ("python", "sql")))
    for question, tags in (("q2", ("python",)), ("q3", ("go",))):
        await world.handle(ev.QuestionAsked(meta(time=ago(9)), question, C1, "cat", tags))
    for answer, question in (("a2", "q2"), ("a3", "q3")):
        await world.handle(ev.AnswerPosted(meta(time=ago(8)), answer, question, C1, "ann", "cat", ()))
        await world.handle(ev.AnswerAccepted(meta(time=ago(7)), answer, question, C1, "ann", "cat", "T", ()))
    await world.handle(ev.AnswerUnaccepted(meta(time=ago(6)), "a3", C1, "ann"))
    await world.handle(ev.CommentPosted(meta(time=ago(6)), "m1", "q2", "q2", C1, "ann"))
    for resource in ("r1", "r2"):
        await world.handle(ev.ResourceShared(meta(time=ago(6)), resource, C1, "ann", ()))
    for item, average, count, days in (("r1", 4.0, 1, 5), ("r1", 4.5, 2, 4), ("r2", 3.0, 1, 4)):
        await world.handle(
            ev.ItemRated(
                meta(time=ago(days)), item, "resource", C1, "ann", "cat", 4, average, count, ago(days)
            )
        )
    for collection, curator, days in (
        ("k0", "ann", 400),
        ("k1", "ann", 3),
        ("k1", "ann", 2),
        ("k2", "ann", 2),
        ("k3", "cat", 2),
    ):
        await world.handle(
            ev.CollectionPublished(meta(time=ago(days)), collection, C1, curator, collection, (), ago(days))
        )
    return world


async def test_a_members_contribution_summary() -> None:
    world = await contributions()
    summary = await world.recognition.summary(who("ann"), "", START, END)
    assert summary.collections_curated == 2
    assert (summary.questions, summary.answers, summary.accepted_answers, summary.comments) == (1, 2, 1, 1)
    assert (summary.resources_shared, summary.resource_average_rating, summary.resource_ratings) == (
        2,
        4.0,
        3,
    )
    assert summary.top_tags == [("python", 2), ("go", 1), ("sql", 1)]
    assert summary.community_ids == [C1]
    champion, curator = summary.roles
    assert (champion.role, champion.since, champion.until) == ("champion", ago(20), ago(10))
    assert (curator.role, curator.until) == ("curator", None)
    assert {b.badge for b in summary.badges} >= {"first_question", "first_answer", "first_accepted_answer"}


async def test_the_member_owners_of_their_communities_and_services_read_it_others_may_not() -> None:
    world = await contributions()
    assert (await world.recognition.summary(who("bob"), "ann", START, END)).questions == 1
    assert (await world.recognition.summary(SERVICE, "ann", START, END)).answers == 2
    with pytest.raises(PermissionDenied) as denied:
        await world.recognition.summary(who("zed"), "ann", START, END)
    assert denied.value.reason == "NOT_OWNER_OF_MEMBERS_COMMUNITY"
    with pytest.raises(NotFound) as unknown:
        await world.recognition.summary(SERVICE, "nobody", START, END)
    assert unknown.value.reason == "MEMBER_NOT_FOUND"
    with pytest.raises(InvalidArgument) as caught:
        await world.recognition.summary(who("ann"), "", END, START)
    assert {v.field for v in caught.value.violations} == {"start_time"}


async def test_an_owner_reads_only_what_was_done_in_communities_they_may_see() -> None:
    world = World()
    await world.create_community(C1, "hidden", time=ago(60))
    await world.join("olivia", C1, "owner", time=ago(30))
    await world.join("oscar", C2, "owner", time=ago(30))
    await world.join("olivia", C2, time=ago(30))
    await world.handle(ev.QuestionAsked(meta(time=ago(9)), "q1", C1, "olivia", TAGS))
    await world.handle(ev.QuestionAsked(meta(time=ago(8)), "q2", C2, "olivia", TAGS))
    mine = await world.recognition.summary(who("olivia"), "", START, END)
    assert (mine.questions, mine.community_ids) == (2, [C1, C2])
    seen = await world.recognition.summary(who("oscar"), "olivia", START, END)
    assert (seen.questions, seen.community_ids) == (1, [C2])
    assert {b.community_id for b in seen.badges} == {C2}


async def test_an_owner_issues_a_summary_for_hr_once_per_request() -> None:
    world = await contributions()
    summary_id, summary = await world.recognition.request(who("bob"), "ann", START, END, "review-2026")
    again, _ = await world.recognition.request(who("bob"), "ann", START, END, "review-2026")
    assert summary_id == again == "ann:bob:review-2026"
    [event] = world.recognition_store.events
    issued = rep_events.RecognitionSummaryIssued.FromString(event.data)
    assert (issued.member_id, issued.requested_by, issued.answers, issued.collections_curated) == (
        "ann",
        "bob",
        2,
        2,
    )
    assert list(issued.roles) == [f"{C1}:champion", f"{C1}:curator"]
    assert event.region == "emea"
    assert summary.answers == 2
    with pytest.raises(InvalidArgument) as caught:
        await world.recognition.request(who("ann"), "", START, END, "")
    assert {v.field for v in caught.value.violations} == {"request_id"}
    with pytest.raises(PermissionDenied):
        await world.recognition.request(who("zed"), "ann", START, END, "r1")
