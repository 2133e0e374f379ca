"""Events that consumers rank by tag carry the question's tags, so nobody has to look the question up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import question_pb2 as pb
from guild.events.v1 import content_events_pb2 as events
from guild_testing.fixtures import auth

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite


async def test_answer_vote_and_acceptance_events_carry_the_question_tags(suite: Suite) -> None:
    question = await suite.ask("ann", tags=["HR", "Annual leave"])
    answer = await suite.answer(question.id, "bob")
    for target, voter in ((question.id, "bob"), (answer.id, "ann")):
        await suite.content.CastVote(
            api.CastVoteRequest(target_id=target, direction=pb.VOTE_DIRECTION_UP), metadata=auth(voter)
        )
    await suite.content.AcceptAnswer(
        api.AcceptAnswerRequest(question_id=question.id, answer_id=answer.id), metadata=auth("ann")
    )

    published = await suite.content_events(6)
    received = {e.type.split(".")[2]: e for e in published}
    tags = list(question.tags)
    assert len(tags) == 2
    assert list(received["answer_posted"].payload(events.AnswerPosted).question_tags) == tags
    assert list(received["answer_accepted"].payload(events.AnswerAccepted).question_tags) == tags
    votes = [e.payload(events.VoteChanged) for e in published if e.type == "guild.content.vote_changed.v1"]
    assert {v.target_kind: list(v.question_tags) for v in votes} == {"question": tags, "answer": tags}
