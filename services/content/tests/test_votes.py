"""Votes on questions and answers: one per member and post, changeable, retractable, counted exactly."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
import pytest

from guild.community.v1 import community_service_pb2 as community_api
from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import question_pb2 as pb
from guild.events.v1 import content_events_pb2 as events
from guild_testing.fixtures import auth

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite

UP, DOWN = pb.VOTE_DIRECTION_UP, pb.VOTE_DIRECTION_DOWN


async def _vote(suite: Suite, target_id: str, who: str, direction: int) -> api.CastVoteResponse:
    response: api.CastVoteResponse = await suite.content.CastVote(
        api.CastVoteRequest(target_id=target_id, direction=direction),  # type: ignore[arg-type]
        metadata=auth(who),
    )
    return response


async def test_vote_change_and_retract_keep_score_and_emit_changes(suite: Suite) -> None:
    question = await suite.ask("ann")
    answer = await suite.answer(question.id, "bob")
    assert (await _vote(suite, question.id, "bob", UP)).score == 1
    assert (await _vote(suite, question.id, "olivia", UP)).score == 2
    # Voting the same way again changes nothing.
    again = await _vote(suite, question.id, "olivia", UP)
    assert (again.score, again.target_kind) == (2, "question")
    # A changed vote replaces the first: 1 - 1.
    assert (await _vote(suite, question.id, "olivia", DOWN)).score == 0
    retracted = await suite.content.RetractVote(
        api.RetractVoteRequest(target_id=question.id), metadata=auth("olivia")
    )
    assert retracted.score == 1
    # Retracting twice is harmless.
    again_retracted = await suite.content.RetractVote(
        api.RetractVoteRequest(target_id=question.id), metadata=auth("olivia")
    )
    assert again_retracted.score == 1
    on_answer = await _vote(suite, answer.id, "ann", DOWN)
    assert (on_answer.score, on_answer.target_kind) == (-1, "answer")

    got = await suite.get(question.id)
    assert got.question.score == 1
    assert [a.score for a in got.answers] == [-1]

    received = await suite.content_events(7)
    changes = [e.payload(events.VoteChanged) for e in received if e.type == "guild.content.vote_changed.v1"]
    # A post's vote events keep their order; those of different posts need not.
    on_question = [c for c in changes if c.target_id == question.id]
    assert [(c.voter_id, c.previous_value, c.value, c.score) for c in on_question] == [
        ("bob", 0, 1, 1),
        ("olivia", 0, 1, 2),
        ("olivia", 1, -1, 0),
        ("olivia", -1, 0, 1),
    ]
    [on_answer_event] = [c for c in changes if c.target_id == answer.id]
    assert (on_answer_event.voter_id, on_answer_event.previous_value, on_answer_event.value) == ("ann", 0, -1)
    assert (on_answer_event.score, on_answer_event.target_author_id) == (-1, "bob")
    assert on_answer_event.question_id == question.id
    assert on_answer_event.community_id == suite.community_id


async def test_votes_are_refused_on_own_posts_to_outsiders_and_without_direction(suite: Suite) -> None:
    question = await suite.ask("ann")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _vote(suite, question.id, "ann", UP)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert suite.reason(caught.value)[0] == "SELF_VOTE"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _vote(suite, question.id, "mallory", UP)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _vote(suite, question.id, "bob", pb.VOTE_DIRECTION_UNSPECIFIED)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "direction" in suite.reason(caught.value)[1]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _vote(suite, "no-such-post", "bob", UP)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    got = await suite.get(question.id)
    assert got.question.score == 0


async def test_concurrent_votes_lose_no_update(suite: Suite) -> None:
    voters = [f"voter{i}" for i in range(16)]
    for voter in voters:
        await suite.community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=suite.community_id), metadata=auth(voter)
        )
    question = await suite.ask("ann")
    # Every voter votes up, several change their mind at once, and some retract, all concurrently.
    await asyncio.gather(*(_vote(suite, question.id, v, UP) for v in voters))
    flips = voters[:6]
    retracts = voters[6:9]
    await asyncio.gather(
        *(_vote(suite, question.id, v, DOWN) for v in flips),
        *(
            suite.content.RetractVote(api.RetractVoteRequest(target_id=question.id), metadata=auth(v))
            for v in retracts
        ),
        *(_vote(suite, question.id, v, UP) for v in voters[9:]),
    )
    expected = len(voters) - len(flips) - len(retracts) - len(flips)
    got = await suite.get(question.id)
    assert got.question.score == expected
    db = suite.content_service.app.infra.db
    assert await db.votes.count_documents({"target_id": question.id}) == len(voters) - len(retracts)
