"""From a champion's unanswered queue to an accepted answer and a curated collection, over the four
services as separate processes on real FerretDB and NATS.

An owner creates a community and grants a champion and a curator; a member asks a question nobody
answers. It is not in the champions' queue at first; once the configured delay has passed it is, with
an earlier answered question like it as a hint. The champion answers, the asker accepts: reputation
awards the champion the answer and the acceptance, the asker hears of the answer and the champion of
the acceptance. The curator builds a collection of the question and a resource, publishes it, a member
follows it and finds it listed; every member's points are what reputation's rules for the community
give for what they did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import grpc
import pytest
from tests.integration.harness import SuiteProcesses

from guild.community.v1 import community_pb2 as cpb
from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.content.v1 import content_service_pb2 as content_api
from guild.content.v1 import content_service_pb2_grpc as content_grpc
from guild.notify.v1 import notification_pb2
from guild.notify.v1 import notify_service_pb2 as notify_api
from guild.notify.v1 import notify_service_pb2_grpc as notify_grpc
from guild.reputation.v1 import reputation_service_pb2 as reputation_api
from guild.reputation.v1 import reputation_service_pb2_grpc as reputation_grpc
from guild_testing.fixtures import auth
from guild_testing.polling import eventually

OWNER, CHAMPION, CURATOR, ASKER, MEMBER = "olga", "chen", "cora", "mia", "max"
# The content service's setting: long enough to see the question absent from the queue first.
UNANSWERED_AFTER_MINUTES = 0.5


@pytest.fixture(scope="module")
def suite_env() -> Mapping[str, str]:
    # Read by the content service only; the others ignore settings they do not have.
    return {"GUILD_UNANSWERED_AFTER_MINUTES": str(UNANSWERED_AFTER_MINUTES)}


async def test_an_unanswered_question_is_answered_accepted_and_curated(suite: SuiteProcesses) -> None:
    community = community_grpc.CommunityServiceStub(suite.channel("community"))
    content = content_grpc.ContentServiceStub(suite.channel("content"))
    reputation = reputation_grpc.ReputationServiceStub(suite.channel("reputation"))
    notify = notify_grpc.NotifyServiceStub(suite.channel("notify"))

    # An owner creates a community; people join; a champion and a curator are granted.
    created: community_api.CreateCommunityResponse = await community.CreateCommunity(
        community_api.CreateCommunityRequest(
            name="Finance for sales", slug="finance-for-sales", programme="sales", region="emea"
        ),
        metadata=auth(OWNER),
    )
    cid = created.community.id
    for person in (CHAMPION, CURATOR, ASKER, MEMBER):
        await community.JoinCommunity(
            community_api.JoinCommunityRequest(community_id=cid), metadata=auth(person)
        )
    for person, role in ((CHAMPION, cpb.ROLE_CHAMPION), (CURATOR, cpb.ROLE_CURATOR)):
        await community.GrantRole(
            community_api.GrantRoleRequest(community_id=cid, member_id=person, role=role),
            metadata=auth(OWNER),
        )

    # What reputation counts in this community today; a rule it does not have earns nothing.
    rules: reputation_api.GetPointsRulesResponse = await reputation.GetPointsRules(
        reputation_api.GetPointsRulesRequest(community_id=cid), metadata=auth(OWNER)
    )
    earns = {rule.rule: int(rule.points) for rule in rules.rules}
    asked_points, answered_points = earns["question_asked"], earns["answer_posted"]
    accepted_points = earns["answer_accepted"]
    # The waits below need points to wait for.
    assert asked_points > 0
    assert answered_points + accepted_points > 0

    # A member asks; nobody answers. The delay starts now.
    clock = asyncio.get_running_loop().time
    before_asking = clock()
    asked: content_api.AskQuestionResponse = await content.AskQuestion(
        content_api.AskQuestionRequest(
            community_id=cid,
            title="Can I expense a client dinner paid in another currency?",
            body="The card statement shows a different amount from the receipt.",
            tags=["expenses"],
        ),
        metadata=auth(ASKER),
    )
    question_id = asked.question.id

    # Meanwhile a question like it was asked and answered: the hint the queue should offer.
    earlier: content_api.AskQuestionResponse = await content.AskQuestion(
        content_api.AskQuestionRequest(
            community_id=cid, title="How do I expense a client dinner?", tags=["expenses"]
        ),
        metadata=auth(MEMBER),
    )
    await content.AnswerQuestion(
        content_api.AnswerQuestionRequest(
            question_id=earlier.question.id, body="Attach the itemised receipt in the expenses tool."
        ),
        metadata=auth(OWNER),
    )
    # The curator shares a resource for the collection to come.
    shared: content_api.ShareResourceResponse = await content.ShareResource(
        content_api.ShareResourceRequest(
            community_id=cid,
            url="https://intranet.example.com/finance/expenses-policy",
            title="Expenses policy",
            summary="What can be claimed, in which currency, with which receipts.",
            media_type="article",
            tags=["expenses"],
        ),
        metadata=auth(CURATOR),
    )
    resource_id = shared.resource.id

    async def queue() -> list[content_api.UnansweredQuestion]:
        listed: content_api.ListUnansweredQuestionsResponse = await content.ListUnansweredQuestions(
            content_api.ListUnansweredQuestionsRequest(community_id=cid), metadata=auth(CHAMPION)
        )
        return list(listed.items)

    # The champion may read the queue once the grant has reached content; the question is too new.
    async def champion_may_read() -> bool:
        try:
            await content.ListUnansweredQuestions(
                content_api.ListUnansweredQuestionsRequest(community_id=cid), metadata=auth(CHAMPION)
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.PERMISSION_DENIED:
                raise
            return False
        return True

    await eventually(champion_may_read, bool)
    assert question_id not in [item.question.id for item in await queue()]
    # (That absence means something only if the question was younger than the delay when listed.)
    assert clock() - before_asking < UNANSWERED_AFTER_MINUTES * 60

    # After the delay it is there, with the answered question like it as a hint; the answered one is not.
    items = await eventually(
        queue,
        lambda seen: question_id in [item.question.id for item in seen],
        timeout=UNANSWERED_AFTER_MINUTES * 60 + 30,
    )
    assert [item.question.id for item in items] == [question_id]
    [waiting] = items
    assert waiting.question.author_id == ASKER
    assert waiting.question.answer_count == 0
    assert earlier.question.id in [hint.question.id for hint in waiting.similar]
    hint = next(h for h in waiting.similar if h.question.id == earlier.question.id)
    assert {"expense", "client", "dinner"} <= set(hint.matched_terms)
    assert hint.question.answer_count == 1

    # The champion answers; the asker accepts; the queue empties.
    answered: content_api.AnswerQuestionResponse = await content.AnswerQuestion(
        content_api.AnswerQuestionRequest(
            question_id=question_id,
            body="Yes: claim the amount on the card statement and attach both documents.",
        ),
        metadata=auth(CHAMPION),
    )
    accepted: content_api.AcceptAnswerResponse = await content.AcceptAnswer(
        content_api.AcceptAnswerRequest(question_id=question_id, answer_id=answered.answer.id),
        metadata=auth(ASKER),
    )
    assert accepted.question.accepted_answer_id == answered.answer.id
    assert await queue() == []

    # Reputation awards the champion the answer and its acceptance.
    async def points(member: str) -> int:
        response: reputation_api.GetStandingResponse = await reputation.GetStanding(
            reputation_api.GetStandingRequest(community_id=cid, member_id=member), metadata=auth(member)
        )
        return int(response.standing.points)

    champion_points = answered_points + accepted_points
    assert await eventually(lambda: points(CHAMPION), lambda p: p >= champion_points) == champion_points

    # The asker hears of the answer, the champion of the acceptance.
    async def inbox(member: str) -> list[notification_pb2.Notification]:
        response: notify_api.ListNotificationsResponse = await notify.ListNotifications(
            notify_api.ListNotificationsRequest(), metadata=auth(member)
        )
        return list(response.notifications)

    def of_type(kind: int) -> Callable[[list[notification_pb2.Notification]], bool]:
        return lambda seen: any(n.type == kind for n in seen)

    new_answer = notification_pb2.NOTIFICATION_TYPE_NEW_ANSWER
    asker_inbox = await eventually(lambda: inbox(ASKER), of_type(new_answer))
    assert [(n.subject_id, n.actor_id) for n in asker_inbox if n.type == new_answer] == [
        (question_id, CHAMPION)
    ]
    acceptance = notification_pb2.NOTIFICATION_TYPE_ANSWER_ACCEPTED
    champion_inbox = await eventually(lambda: inbox(CHAMPION), of_type(acceptance))
    assert [(n.subject_id, n.actor_id) for n in champion_inbox if n.type == acceptance] == [
        (question_id, ASKER)
    ]

    # The curator builds a collection of the question and the resource and publishes it.
    collection: content_api.CreateCollectionResponse = await content.CreateCollection(
        content_api.CreateCollectionRequest(
            community_id=cid,
            title="Expenses abroad",
            description="Claiming what you spent with clients in other currencies.",
            request_id="expenses-abroad",
        ),
        metadata=auth(CURATOR),
    )
    collection_id = collection.collection.id
    for post_id, note in ((question_id, "Start here."), (resource_id, "The rules themselves.")):
        await content.AddCollectionItem(
            content_api.AddCollectionItemRequest(
                collection_id=collection_id, post_id=post_id, note=note, request_id=post_id
            ),
            metadata=auth(CURATOR),
        )

    async def published_for(member: str) -> list[str]:
        listed: content_api.ListCollectionsResponse = await content.ListCollections(
            content_api.ListCollectionsRequest(community_id=cid), metadata=auth(member)
        )
        return [c.id for c in listed.collections]

    assert await published_for(MEMBER) == []  # a draft is the curator's alone
    published: content_api.PublishCollectionResponse = await content.PublishCollection(
        content_api.PublishCollectionRequest(collection_id=collection_id), metadata=auth(CURATOR)
    )
    assert published.collection.published
    assert [(i.kind, i.post_id, i.position) for i in published.collection.items] == [
        ("post", question_id, 0),
        ("post", resource_id, 1),
    ]
    assert [i.title for i in published.collection.items] == [asked.question.title, "Expenses policy"]

    # A member follows it and finds it listed.
    followed: content_api.FollowCollectionResponse = await content.FollowCollection(
        content_api.FollowCollectionRequest(collection_id=collection_id), metadata=auth(MEMBER)
    )
    assert followed.follower_count == 1
    got: content_api.GetCollectionResponse = await content.GetCollection(
        content_api.GetCollectionRequest(collection_id=collection_id), metadata=auth(MEMBER)
    )
    assert got.following
    assert got.collection.follower_count == 1
    assert await published_for(MEMBER) == [collection_id]

    # The curator's points are what reputation's rules give for what the curator did: a question asked
    # now, the resource shared and the collection followed by someone else (rules reputation may or may
    # not have); creating and publishing a collection earn nothing by themselves.
    await content.AskQuestion(
        content_api.AskQuestionRequest(community_id=cid, title="Who approves expenses over the limit?"),
        metadata=auth(CURATOR),
    )
    curator_points = asked_points + earns.get("resource_shared", 0) + earns.get("collection_followed", 0)
    assert await eventually(lambda: points(CURATOR), lambda p: p >= curator_points) == curator_points
    board: reputation_api.GetLeaderboardResponse = await reputation.GetLeaderboard(
        reputation_api.GetLeaderboardRequest(community_id=cid), metadata=auth(OWNER)
    )
    assert {s.member_id: s.points for s in board.standings if s.points} == {
        person: total
        for person, total in {
            CHAMPION: champion_points,
            OWNER: answered_points,
            ASKER: asked_points,
            MEMBER: asked_points,
            CURATOR: curator_points,
        }.items()
        if total
    }
