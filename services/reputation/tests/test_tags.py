"""Points by tag: ledger entries carry their post's tags, points_changed events name them, and the
per-tag totals (reversals included) are served page by page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import grpc
import pytest
from services.reputation.tests.support import C1, C2, Producer

from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import content_events_pb2 as events
from guild.events.v1 import reputation_events_pb2 as reputation_events
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.settings import ServiceSettings
from guild_common.tags import normalise_tags
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_testing.fixtures import auth, token_for
from guild_testing.inprocess import running_service

SECOND = timedelta(seconds=1)
SERVICE = [("authorization", f"Bearer {token_for('directory', scopes=('service',))}")]


def test_tags_are_normalised_like_posts_tags() -> None:
    assert normalise_tags(["Machine  Learning", "python", " PYTHON ", ""]) == ["machine-learning", "python"]


async def _top(
    stub: api_grpc.ReputationServiceStub, tag: str, expect: list[tuple[str, int]], community: str = C1
) -> list[tuple[str, int, int]]:
    got: list[tuple[str, int, int]] = []
    for _ in range(400):  # 20 s at most
        try:
            response = await stub.ListTopMembersByTag(
                api.ListTopMembersByTagRequest(community_id=community, tag=tag), metadata=SERVICE
            )
        except grpc.aio.AioRpcError as error:  # until the community's first post is handled
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            await asyncio.sleep(0.05)
            continue
        got = [(s.member_id, s.points, s.rank) for s in response.standings]
        if [(m, p) for m, p, _ in got] == expect:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"{tag}: {got}, expected {expect}")


def _vote(voter: str, previous: int, value: int, target: str, author: str) -> events.VoteChanged:
    return events.VoteChanged(
        target_kind="answer",
        target_id=target,
        question_id="q1",
        community_id=C1,
        voter_id=voter,
        target_author_id=author,
        previous_value=previous,
        value=value,
    )


async def test_entries_carry_their_posts_tags_and_totals_follow_reversals(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        await producer.emit(
            "question_asked",
            events.QuestionAsked(question_id="q1", community_id=C1, author_id="bob", tags=["Python", "data"]),
        )
        await producer.emit(
            "question_asked",
            events.QuestionAsked(question_id="q9", community_id=C2, author_id="bob", tags=["python"]),
        )
        await producer.emit(
            "answer_posted",
            events.AnswerPosted(
                answer_id="a1", question_id="q1", community_id=C1, author_id="ann", question_author_id="bob"
            ),
        )
        # An answer's upvotes and acceptance take its question's tags.
        await producer.emit("vote_changed", _vote("cat", 0, 1, "a1", "ann"))
        await producer.emit("vote_changed", _vote("dan", 0, 1, "a1", "ann"))
        accepted = await producer.emit(
            "answer_accepted",
            events.AnswerAccepted(
                answer_id="a1",
                question_id="q1",
                community_id=C1,
                answer_author_id="ann",
                question_author_id="bob",
            ),
        )
        await producer.redeliver(accepted)
        await _top(stub, "python", [("ann", 40), ("bob", 2)])
        # A retracted upvote and a withdrawn acceptance come off the tag totals too.
        await producer.emit("vote_changed", _vote("dan", 1, 0, "a1", "ann"))
        await producer.emit(
            "answer_unaccepted",
            events.AnswerUnaccepted(
                answer_id="a1", question_id="q1", community_id=C1, answer_author_id="ann"
            ),
        )
        assert await _top(stub, "Python", [("ann", 15), ("bob", 2)]) == [("ann", 15, 1), ("bob", 2, 2)]
        await _top(stub, "data", [("ann", 15), ("bob", 2)])
        await _top(stub, "python", [("bob", 2)], community=C2)
        # A moderator's removal of the answer leaves ann nothing on its tags: she drops off.
        await producer.emit(
            "post_removed",
            events.PostRemoved(
                post_id="a1", kind="answer", community_id=C1, author_id="ann", by_moderator=True
            ),
        )
        await _top(stub, "python", [("bob", 2)])
        # Keyset pages with ranks across pages.
        for i, member in enumerate(("m1", "m2", "m3")):
            for k in range(i + 1):
                await producer.emit(
                    "question_asked",
                    events.QuestionAsked(
                        question_id=f"{member}-{k}", community_id=C1, author_id=member, tags=["go"]
                    ),
                )
        await _top(stub, "go", [("m3", 6), ("m2", 4), ("m1", 2)])
        first = await stub.ListTopMembersByTag(
            api.ListTopMembersByTagRequest(community_id=C1, tag="go", page_size=2), metadata=SERVICE
        )
        second = await stub.ListTopMembersByTag(
            api.ListTopMembersByTagRequest(
                community_id=C1, tag="go", page_size=2, page_token=first.next_page_token
            ),
            metadata=SERVICE,
        )
        assert [(s.member_id, s.rank) for s in first.standings] == [("m3", 1), ("m2", 2)]
        assert [(s.member_id, s.rank) for s in second.standings] == [("m1", 3)]
        assert second.next_page_token == ""
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListTopMembersByTag(
                api.ListTopMembersByTagRequest(community_id=C1, tag="  "), metadata=SERVICE
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # Members read the figures, former members do not; a community nobody posted in is not found.
        # (Joins a second older than the leave: the read model orders a person's changes by event time.)
        for event, payload, age in (
            ("member_joined", community_events.MemberJoined(community_id=C1, member_id="dan"), SECOND),
            ("member_joined", community_events.MemberJoined(community_id=C1, member_id="eve"), SECOND),
            ("member_left", community_events.MemberLeft(community_id=C1, member_id="eve"), None),
        ):
            await producer.emit(event, payload, service="community", age=age)
        go = api.ListTopMembersByTagRequest(community_id=C1, tag="go")
        for _ in range(600):  # until the memberships are in the read model (30 s at most)
            try:
                read = await stub.ListTopMembersByTag(go, metadata=auth("dan"))
                break
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.05)
        assert [s.member_id for s in read.standings] == ["m3", "m2", "m1"]
        code = None
        for _ in range(600):  # until eve's leaving is in the read model (30 s at most)
            try:
                await stub.ListTopMembersByTag(go, metadata=auth("eve"))
            except grpc.aio.AioRpcError as error:
                code = error.code()
                if code == grpc.StatusCode.PERMISSION_DENIED:
                    break
            await asyncio.sleep(0.05)
        assert code == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListTopMembersByTag(
                api.ListTopMembersByTagRequest(community_id="c-none", tag="go"), metadata=SERVICE
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        # Every points_changed event names the tags of the post its entry is about.
        subscription = await producer.js.subscribe(
            "guild.*.*.reputation.points_changed", stream="GUILD_REPUTATION", ordered_consumer=True
        )
        seen: dict[str, set[str]] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while len(seen) < 15 and loop.time() < deadline:
            try:
                message = await subscription.next_msg(timeout=1)
            except TimeoutError:
                continue
            changed = reputation_events.PointsChanged()
            changed.ParseFromString(message.data)
            seen[changed.entry_id] = set(changed.tags)
        await subscription.unsubscribe()
        entries = await service.app.infra.db.ledger.find({}, {"member_id": 1, "community_id": 1}).to_list()
        assert len(entries) == len(seen) == 15
        for entry in entries:
            if entry["member_id"] == "ann" or (entry["member_id"], entry["community_id"]) == ("bob", C1):
                assert seen[entry["_id"]] == {"python", "data"}, entry
            elif entry["member_id"] == "bob":
                assert seen[entry["_id"]] == {"python"}
            else:
                assert seen[entry["_id"]] == {"go"}
