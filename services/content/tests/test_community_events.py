"""Community lifecycle and membership changes reach the read model and decide who may write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import question_pb2 as pb
from guild.events.v1 import community_events_pb2 as community_events
from guild_common.errors import Unavailable
from guild_content.adapters.membership_directory import MembershipReadModel, ReadThroughDirectory
from guild_content.domain.model import MembershipView, Role
from guild_testing.fixtures import auth
from guild_testing.processes import free_port

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


async def _role_of(suite: Suite, member: str) -> str | None:
    db = suite.content_service.app.infra.db
    doc = await db.membership_views.find_one({"_id": f"{suite.community_id}:{member}"})
    return None if doc is None else str(doc["role"])


async def _wait_for_role(suite: Suite, member: str, role: str) -> None:
    async def has_role() -> bool:
        return await _role_of(suite, member) == role

    await suite.eventually(has_role)


async def test_moderators_accept_answers_until_the_role_is_revoked(suite: Suite) -> None:
    await _wait_for_role(suite, "bob", "member")
    question = await suite.ask("ann")
    answer = await suite.answer(question.id, "olivia")
    now = datetime.now(UTC)
    await suite.publish_community_event(
        "role_granted",
        community_events.RoleGranted(
            community_id=suite.community_id,
            member_id="bob",
            role="moderator",
            previous_role="member",
            granted_by="olivia",
            grant_time=_ts(now),
        ),
        subject=suite.community_id,
    )
    await _wait_for_role(suite, "bob", "moderator")
    accepted = await suite.content.AcceptAnswer(
        api.AcceptAnswerRequest(question_id=question.id, answer_id=answer.id), metadata=auth("bob")
    )
    assert accepted.question.accepted_answer_id == answer.id

    await suite.publish_community_event(
        "role_revoked",
        community_events.RoleRevoked(
            community_id=suite.community_id,
            member_id="bob",
            role="moderator",
            current_role="member",
            revoke_time=_ts(now + timedelta(seconds=1)),
        ),
        subject=suite.community_id,
    )
    await _wait_for_role(suite, "bob", "member")
    # A late copy of an older grant does not bring the role back.
    await suite.publish_community_event(
        "role_granted",
        community_events.RoleGranted(
            community_id=suite.community_id, member_id="bob", role="owner", grant_time=_ts(now)
        ),
        subject=suite.community_id,
    )
    second = await suite.answer(question.id, "olivia", body="Another way")
    await suite.settle_community_events()
    assert await _role_of(suite, "bob") == "member"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.AcceptAnswer(
            api.AcceptAnswerRequest(question_id=question.id, answer_id=second.id), metadata=auth("bob")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_an_archived_community_is_read_only(suite: Suite) -> None:
    question = await suite.ask("ann")
    answer = await suite.answer(question.id, "bob")
    now = datetime.now(UTC)
    await suite.publish_community_event(
        "lifecycle_changed",
        community_events.LifecycleChanged(
            community_id=suite.community_id,
            previous_lifecycle="live",
            lifecycle="archived",
            changed_by="olivia",
            change_time=_ts(now),
        ),
        subject=suite.community_id,
    )
    db = suite.content_service.app.infra.db

    async def archived() -> bool:
        view = await db.community_views.find_one({"_id": suite.community_id})
        return view is not None and view["lifecycle"] == "archived"

    await suite.eventually(archived)
    # A stale change from before the archiving does not reopen it.
    await suite.publish_community_event(
        "lifecycle_changed",
        community_events.LifecycleChanged(
            community_id=suite.community_id, lifecycle="live", change_time=_ts(now - timedelta(minutes=1))
        ),
        subject=suite.community_id,
    )
    await suite.settle_community_events()
    writes = [
        suite.ask("bob"),
        suite.answer(question.id, "olivia"),
        suite.content.AcceptAnswer(
            api.AcceptAnswerRequest(question_id=question.id, answer_id=answer.id), metadata=auth("ann")
        ),
        suite.content.CastVote(
            api.CastVoteRequest(target_id=question.id, direction=pb.VOTE_DIRECTION_UP), metadata=auth("bob")
        ),
    ]
    for write in writes:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await write
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert suite.reason(caught.value)[0] == "COMMUNITY_ARCHIVED"
    # Reading still works.
    got = await suite.get(question.id, "bob")
    assert got.question.answer_count == 1
    assert (await db.community_views.find_one({"_id": suite.community_id}) or {})["lifecycle"] == "archived"


async def test_a_member_who_left_loses_posting_rights(suite: Suite) -> None:
    # carl is known to content only through events; the community service has never heard of him.
    now = datetime.now(UTC)
    await suite.publish_community_event(
        "member_joined",
        community_events.MemberJoined(
            community_id=suite.community_id, member_id="carl", role="member", join_time=_ts(now)
        ),
        subject=suite.community_id,
    )
    await _wait_for_role(suite, "carl", "member")
    assert (await suite.ask("carl", title="Before I go")).author_id == "carl"
    await suite.publish_community_event(
        "member_left",
        community_events.MemberLeft(
            community_id=suite.community_id,
            member_id="carl",
            reason="left",
            actor_id="carl",
            leave_time=_ts(now + timedelta(seconds=1)),
        ),
        subject=suite.community_id,
    )
    db = suite.content_service.app.infra.db

    async def left() -> bool:
        doc = await db.membership_views.find_one({"_id": f"{suite.community_id}:carl"})
        return doc is not None and doc["active"] is False

    await suite.eventually(left)
    # A late copy of the earlier join does not revive the membership.
    await suite.publish_community_event(
        "member_joined",
        community_events.MemberJoined(
            community_id=suite.community_id, member_id="carl", role="member", join_time=_ts(now)
        ),
        subject=suite.community_id,
    )
    await suite.settle_community_events()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.ask("carl", title="After I left")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert suite.reason(caught.value)[0] == "NOT_A_MEMBER"


async def test_a_membership_not_confirmed_lately_is_checked_with_the_community_service(suite: Suite) -> None:
    # As if a ban's event were held up: content's view says member, the community service says not.
    now = datetime.now(UTC)
    for member, joined in (("carl", now - timedelta(minutes=10)), ("dina", now)):
        await suite.publish_community_event(
            "member_joined",
            community_events.MemberJoined(
                community_id=suite.community_id, member_id=member, role="member", join_time=_ts(joined)
            ),
            subject=suite.community_id,
        )
        await _wait_for_role(suite, member, "member")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.ask("carl", title="Still here?")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert suite.reason(caught.value)[0] == "NOT_A_MEMBER"
    # A view confirmed within the bound is trusted as it is (the community service never heard of dina).
    assert (await suite.ask("dina", title="Fresh join")).author_id == "dina"
    # A real member whose view is old is confirmed by the community service, and the view refreshed.
    db = suite.content_service.app.infra.db
    await suite.ask("ann")
    key = f"{suite.community_id}:ann"
    await db.membership_views.update_one({"_id": key}, {"$set": {"confirm_time": now - timedelta(hours=1)}})
    assert (await suite.ask("ann", title="Still a member")).author_id == "ann"
    doc = await db.membership_views.find_one({"_id": key})
    assert doc is not None
    assert doc["confirm_time"] >= now - timedelta(seconds=1)


async def test_a_write_fails_closed_while_a_stale_membership_cannot_be_checked(suite: Suite) -> None:
    read_model = MembershipReadModel(suite.content_service.app.infra.db)
    now = datetime.now(UTC)
    await read_model.put_membership(
        MembershipView(suite.community_id, "erin", Role.MEMBER), now - timedelta(minutes=10)
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")  # nothing listens there
    try:
        directory = ReadThroughDirectory(read_model, channel, timeout=0.5, max_age=timedelta(seconds=60))
        with pytest.raises(Unavailable):
            await directory.standing(suite.community_id, "erin")
        # Reads keep using the local view; so does a write once the view is recent.
        assert await directory.membership(suite.community_id, "erin") is not None
        await read_model.put_membership(MembershipView(suite.community_id, "erin", Role.MEMBER), now)
        assert await directory.standing(suite.community_id, "erin") is not None
    finally:
        await channel.close()
