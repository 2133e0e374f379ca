"""Preferences over gRPC, and notifications that respect them."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from services.notify.tests.support import Events, wait_for_inbox

from guild.events.v1 import content_events_pb2 as content
from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_testing.fixtures import auth


def _channels(prefs: pb.Preferences) -> dict[int, tuple[bool, bool]]:
    return {c.type: (c.in_app, c.email) for c in prefs.channels}


async def test_defaults_and_masked_updates(any_stub: api_grpc.NotifyServiceStub) -> None:
    stub = any_stub
    got = (await stub.GetPreferences(api.GetPreferencesRequest(), metadata=auth("ann"))).preferences
    assert got.member_id == "ann"
    assert got.digest_frequency == pb.DIGEST_FREQUENCY_WEEKLY
    channels = _channels(got)
    assert channels[pb.NOTIFICATION_TYPE_NEW_ANSWER] == (True, False)  # no email per answer
    assert channels[pb.NOTIFICATION_TYPE_ANSWER_ACCEPTED] == (True, True)
    assert len(channels) == len(pb.NotificationType.values()) - 1

    updated = await stub.UpdatePreferences(
        api.UpdatePreferencesRequest(
            preferences=pb.Preferences(
                channels=[
                    pb.ChannelPreference(type=pb.NOTIFICATION_TYPE_NEW_ANSWER, in_app=False, email=True)
                ],
                muted_community_ids=["c2"],
                digest_frequency=pb.DIGEST_FREQUENCY_DAILY,
                email_address="ignored@example.com",
            ),
            update_mask=FieldMask(paths=["channels", "muted_community_ids", "digest_frequency"]),
        ),
        metadata=auth("ann"),
    )
    prefs = updated.preferences
    assert _channels(prefs)[pb.NOTIFICATION_TYPE_NEW_ANSWER] == (False, True)
    assert _channels(prefs)[pb.NOTIFICATION_TYPE_ANSWER_ACCEPTED] == (True, True)
    assert list(prefs.muted_community_ids) == ["c2"]
    assert prefs.digest_frequency == pb.DIGEST_FREQUENCY_DAILY
    assert prefs.email_address == ""  # not in the mask
    again = (await stub.GetPreferences(api.GetPreferencesRequest(), metadata=auth("ann"))).preferences
    assert again == prefs
    other = (await stub.GetPreferences(api.GetPreferencesRequest(), metadata=auth("bob"))).preferences
    assert other.digest_frequency == pb.DIGEST_FREQUENCY_WEEKLY

    bad_requests = [
        api.UpdatePreferencesRequest(update_mask=FieldMask(paths=["nope"])),
        api.UpdatePreferencesRequest(),
        api.UpdatePreferencesRequest(
            preferences=pb.Preferences(email_address="not-an-address"),
            update_mask=FieldMask(paths=["email_address"]),
        ),
        api.UpdatePreferencesRequest(
            preferences=pb.Preferences(digest_frequency=pb.DIGEST_FREQUENCY_UNSPECIFIED),
            update_mask=FieldMask(paths=["digest_frequency"]),
        ),
    ]
    for request in bad_requests:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdatePreferences(request, metadata=auth("ann"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await stub.GetPreferences(api.GetPreferencesRequest(), metadata=auth("ann"))).preferences == prefs


def _posted(community: str, question: str, answerer: str, answer_id: str) -> content.AnswerPosted:
    return content.AnswerPosted(
        answer_id=answer_id,
        question_id=question,
        community_id=community,
        author_id=answerer,
        question_author_id="ann",
        question_title=f"Question {question}",
    )


async def test_notifications_respect_channels_and_mutes(
    stub: api_grpc.NotifyServiceStub, events: Events
) -> None:
    await stub.UpdatePreferences(
        api.UpdatePreferencesRequest(
            preferences=pb.Preferences(
                channels=[pb.ChannelPreference(type=pb.NOTIFICATION_TYPE_ANSWER_ACCEPTED, in_app=False)],
                muted_community_ids=["muted"],
            ),
            update_mask=FieldMask(paths=["channels", "muted_community_ids"]),
        ),
        metadata=auth("ann"),
    )
    await events.emit("content", "answer_posted", _posted("muted", "q1", "bob", "a1"))
    await events.emit(
        "content",
        "answer_accepted",
        content.AnswerAccepted(
            answer_id="a9", question_id="q9", community_id="c1", answer_author_id="ann", accepted_by="bob"
        ),
    )
    # Events of one stream are handled in order: once the last is in, the earlier ones were decided.
    await events.emit("content", "answer_posted", _posted("c1", "q2", "cat", "a2"))
    inbox = await wait_for_inbox(stub, "ann", 1)
    assert [(n.type, n.community_id) for n in inbox.notifications] == [
        (pb.NOTIFICATION_TYPE_NEW_ANSWER, "c1")
    ]
