"""Upvotes, removals, daily caps, owners' overrides, periods and replicas, on real FerretDB and NATS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import grpc
import pytest
from services.reputation.tests.support import C1, C2, Producer, answer_vote, question_asked, standing_of

from guild.community.v1 import community_service_pb2 as community_api
from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import content_events_pb2 as events
from guild.reputation.v1 import leaderboard_pb2 as pb
from guild.reputation.v1 import points_rules_pb2 as rules_pb
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.settings import ServiceSettings
from guild_community import bootstrap as community_bootstrap
from guild_community.config import CommunitySettings
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_testing.calendar import clear_of_midnight
from guild_testing.fixtures import Infra, auth
from guild_testing.inprocess import running_service
from guild_testing.status import field_violations


async def test_upvotes_earn_once_and_retractions_take_back(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        up = await producer.emit("vote_changed", answer_vote("ann", 0, 1))
        await producer.emit("vote_changed", answer_vote("cat", 0, 1))
        await standing_of(stub, "bob", expect=20)
        await producer.redeliver(up)
        await producer.emit("vote_changed", answer_vote("bob", 0, 1))  # own post: nothing
        await producer.emit("vote_changed", answer_vote("dan", 0, -1))  # downvote: nothing
        await producer.emit("vote_changed", answer_vote("ann", 1, -1))  # ann's upvote turns down
        await standing_of(stub, "bob", expect=10)
        await producer.emit("vote_changed", answer_vote("ann", -1, 1))  # and up again
        assert (await standing_of(stub, "bob", expect=20)).standing.points == 20
        ledger = service.app.infra.db.ledger
        rules = sorted(d["rule"] for d in await ledger.find({"member_id": "bob"}).to_list())
        assert rules == ["upvote_received"] * 3 + ["upvote_retracted"]


async def test_a_moderators_removal_reverses_what_the_post_earned(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        await producer.emit("question_asked", question_asked("q1", "bob"))
        await producer.emit("question_asked", question_asked("q2", "bob"))
        await producer.emit("vote_changed", answer_vote("ann", 0, 1, target="q1"))
        await standing_of(stub, "bob", expect=14)
        removed = events.PostRemoved(
            post_id="q1", kind="question", community_id=C1, author_id="bob", removed_by="bob"
        )
        await producer.emit("post_removed", removed)  # by the author: points stay
        removed.by_moderator = True
        removed.removed_by = "mod"
        await producer.emit("post_removed", removed)
        await standing_of(stub, "bob", expect=2)
        # Later votes on the removed post earn nothing, and a second removal takes nothing more.
        await producer.emit("vote_changed", answer_vote("cat", 0, 1, target="q1"))
        await producer.emit("post_removed", removed)
        await producer.emit("question_asked", question_asked("q3", "bob"))
        assert (await standing_of(stub, "bob", expect=4)).standing.points == 4


async def test_the_daily_cap_records_capped_entries_and_stays_idempotent(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    settings = settings_for(ReputationSettings, points_daily_cap={"upvote_received": 25})
    # The cap counts by the UTC day the votes are published: all of them on one day.
    await clear_of_midnight()
    async with running_service(settings, build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        # The question first: its tags are known, so the votes are handled in the order they were cast
        # (votes waiting for a question's tags are retried, and retries may overtake each other).
        await producer.emit("question_asked", question_asked("q1", "bob"))
        votes = [await producer.emit("vote_changed", answer_vote(v, 0, 1)) for v in ("v1", "v2", "v3", "v4")]
        await standing_of(stub, "bob", expect=27)
        for vote in votes:
            await producer.redeliver(vote)
        await producer.emit("question_asked", question_asked("q2", "bob"))
        assert (await standing_of(stub, "bob", expect=29)).standing.points == 29
        docs = await service.app.infra.db.ledger.find({"rule": "upvote_received"}).sort("time", 1).to_list()
        assert [(d["amount"], d["reason"]) for d in docs] == [
            (10, ""),
            (10, ""),
            (5, "capped"),
            (0, "capped"),
        ]
        # Retracting a capped upvote takes back only what it earned.
        await producer.emit("vote_changed", answer_vote("v4", 1, 0))
        await producer.emit("vote_changed", answer_vote("v3", 1, 0))
        assert (await standing_of(stub, "bob", expect=24)).standing.points == 24


async def test_owners_override_points_others_may_not(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    # The owner's cap counts by the UTC day the questions are published: all of them on one day.
    await clear_of_midnight()
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        await producer.emit(
            "member_joined",
            community_events.MemberJoined(community_id=C1, member_id="olivia", role="owner"),
            service="community",
        )
        await producer.emit(
            "member_joined",
            community_events.MemberJoined(community_id=C1, member_id="max", role="member"),
            service="community",
        )
        request = api.SetPointsRulesRequest(
            community_id=C1, rules=[rules_pb.PointsRule(rule="question_asked", points=7, daily_cap=14)]
        )
        for _ in range(100):  # until the membership events are in the read model
            try:
                response = await stub.SetPointsRules(request, metadata=auth("olivia"))
                break
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.05)
        assert {r.rule: (r.points, r.daily_cap) for r in response.rules}["question_asked"] == (7, 14)
        for _ in range(100):  # until max's membership is in the read model too
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.SetPointsRules(request, metadata=auth("max"))
            if caught.value.code() != grpc.StatusCode.UNAVAILABLE:
                break
            await asyncio.sleep(0.05)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        bad = api.SetPointsRulesRequest(
            community_id=C1,
            rules=[
                rules_pb.PointsRule(rule="question_asked", points=5000),
                rules_pb.PointsRule(rule="made_up", points=1),
            ],
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SetPointsRules(bad, metadata=auth("olivia"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(caught.value)) == {"rules[0].points", "rules[1].rule"}
        # The owner's points apply from now on, with their cap; other communities keep the defaults.
        for qid in ("q1", "q2", "q3"):
            await producer.emit("question_asked", question_asked(qid, "ann"))
        await producer.emit("question_asked", question_asked("q4", "ann", community=C2))
        await standing_of(stub, "ann", expect=2, community=C2)
        assert (await standing_of(stub, "ann", expect=14)).standing.points == 14
        # The owner is demoted: no more overrides.
        await producer.emit(
            "role_revoked",
            community_events.RoleRevoked(
                community_id=C1, member_id="olivia", role="owner", current_role="member"
            ),
            service="community",
        )
        denied = None
        for _ in range(100):
            try:
                await stub.SetPointsRules(request, metadata=auth("olivia"))
            except grpc.aio.AioRpcError as error:
                denied = error.code()
                break
            await asyncio.sleep(0.05)
        assert denied == grpc.StatusCode.PERMISSION_DENIED
        effective = await stub.GetPointsRules(api.GetPointsRulesRequest(community_id=C2), metadata=auth("x"))
        assert {r.rule: r.points for r in effective.rules}["question_asked"] == 2


async def test_owners_unknown_locally_are_read_through_from_the_community_service(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(CommunitySettings), community_bootstrap.build) as community:
        community_stub = community_grpc.CommunityServiceStub(community.channel)
        created = await community_stub.CreateCommunity(
            community_api.CreateCommunityRequest(
                name="Sales", slug="sales", programme="sales", region="emea"
            ),
            metadata=auth("olivia"),
        )
        community_id = created.community.id
        # This replica consumes no community events: only the read-through can know the owner.
        settings = settings_for(ReputationSettings, community_addr=community.address, programme_filter="none")
        async with running_service(settings, build) as service:
            stub = api_grpc.ReputationServiceStub(service.channel)
            request = api.SetPointsRulesRequest(
                community_id=community_id, rules=[rules_pb.PointsRule(rule="upvote_received", points=20)]
            )
            response = await stub.SetPointsRules(request, metadata=auth("olivia"))
            assert {r.rule: r.points for r in response.rules}["upvote_received"] == 20
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.SetPointsRules(request, metadata=auth("stranger"))
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            stored = await service.app.infra.db.community_roles.find_one({"_id": f"{community_id}:olivia"})
            assert stored is not None
            assert stored["role"] == "owner"


async def test_boards_per_period_and_across_communities(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    # This week's and this month's boards are read after the questions: all in one UTC day.
    await clear_of_midnight()
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        # Two months ago: all time only.
        await producer.emit(
            "answer_accepted",
            events.AnswerAccepted(
                answer_id="a0", community_id=C1, answer_author_id="ann", question_author_id="bob"
            ),
            age=timedelta(days=62),
        )
        await producer.emit("question_asked", question_asked("q1", "bob"))
        await producer.emit("question_asked", question_asked("q2", "cat"))
        await producer.emit("question_asked", question_asked("q3", "cat", community=C2))
        await standing_of(stub, "cat", expect=2, community=C2)
        await standing_of(stub, "cat", expect=4, all_communities=True)
        ann_all = await standing_of(stub, "ann", expect=15)
        assert (ann_all.standing.rank, ann_all.total_members, ann_all.percentile) == (1, 3, 100.0)
        assert not ann_all.HasField("above")
        assert ann_all.below == pb.Standing(member_id="bob", points=2, rank=2)
        for period in (pb.PERIOD_WEEK, pb.PERIOD_MONTH):
            ann = await standing_of(stub, "ann", period=period)
            assert (ann.standing.points, ann.standing.rank) == (0, 0)
            bob = await standing_of(stub, "bob", period=period)
            assert (bob.standing.rank, bob.total_members) == (1, 2)
            assert bob.below == pb.Standing(member_id="cat", points=2, rank=2)
            top = await stub.GetLeaderboard(
                api.GetLeaderboardRequest(period=period, all_communities=True), metadata=auth("x")
            )
            assert [(s.member_id, s.points) for s in top.standings] == [("cat", 4), ("bob", 2)]
        everywhere = await stub.GetLeaderboard(
            api.GetLeaderboardRequest(all_communities=True), metadata=auth("x")
        )
        assert [(s.member_id, s.points, s.rank) for s in everywhere.standings] == [
            ("ann", 15, 1),
            ("cat", 4, 2),
            ("bob", 2, 3),
        ]
    async with running_service(settings_for(ReputationSettings), build) as restarted:
        stub = api_grpc.ReputationServiceStub(restarted.channel)
        week = await standing_of(stub, "cat", period=pb.PERIOD_WEEK, all_communities=True)
        assert (week.standing.points, week.standing.rank) == (4, 1)


async def test_every_replica_follows_every_replicas_points(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    settings = settings_for(ReputationSettings)
    async with running_service(settings, build) as one, running_service(settings, build) as two:
        stubs = [api_grpc.ReputationServiceStub(s.channel) for s in (one, two)]
        members = [f"m{i}" for i in range(6)]
        for i, member in enumerate(members):
            for q in range(i + 1):
                await producer.emit("question_asked", question_asked(f"q{i}-{q}", member))
        for stub in stubs:
            for i, member in enumerate(members):
                await standing_of(stub, member, expect=2 * (i + 1))
            for i, member in enumerate(members):
                response = await standing_of(stub, member)
                assert (response.standing.rank, response.total_members) == (len(members) - i, len(members))
        handled = [
            await s.app.infra.db.ledger.count_documents({}) for s in (one, two)
        ]  # one database: both see all entries
        assert handled[0] == handled[1] == sum(range(1, 7))


async def test_totals_stored_before_periods_count_as_all_time(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    settings = settings_for(ReputationSettings)
    async with running_service(settings, build) as first:
        totals = first.app.infra.db.totals
        await first.app.infra.db.ledger_meta.delete_many({})
        await totals.insert_one(
            {"_id": f"{C1}:zoe", "community_id": C1, "member_id": "zoe", "points": 42, "entries": 3}
        )
    async with running_service(settings, build) as restarted:
        stub = api_grpc.ReputationServiceStub(restarted.channel)
        zoe = await standing_of(stub, "zoe")
        assert (zoe.standing.points, zoe.standing.rank) == (42, 1)


async def test_a_malformed_event_is_dead_lettered_and_the_consumer_goes_on(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        broken = await producer.emit("question_asked", question_asked("q1", "bob"))
        await producer.js.publish(
            broken.topic,
            b"\xff\xff not protobuf",
            headers={**broken.headers(), "ce-id": "broken-1", "Nats-Msg-Id": "b1"},
        )
        await producer.emit("question_asked", events.QuestionAsked(question_id="q2", community_id=C1))
        await producer.emit("question_asked", question_asked("q3", "bob"))
        assert (await standing_of(stub, "bob", expect=4)).standing.points == 4
        letters = service.app.infra.db.dead_letters
        for _ in range(100):
            if await letters.count_documents({}) >= 2:
                break
            await asyncio.sleep(0.05)
        reasons = sorted(d["error"] for d in await letters.find({}).to_list())
        assert len(reasons) == 2
        assert reasons[0].startswith("QuestionAsked without author_id")
        assert reasons[1].startswith("malformed QuestionAsked")


async def test_replicas_keep_following_after_nats_restarts(
    settings_for: Callable[..., ServiceSettings], producer: Producer, infra: Infra
) -> None:
    settings = settings_for(ReputationSettings)
    async with running_service(settings, build) as one, running_service(settings, build) as two:
        stubs = [api_grpc.ReputationServiceStub(s.channel) for s in (one, two)]
        await producer.emit("question_asked", question_asked("q0", "ann"))
        for stub in stubs:
            await standing_of(stub, "ann", expect=2)
        infra.nats.stop()
        infra.nats.start()
        # The ephemeral subscriptions died with the server; each replica resubscribes where it was.
        for i in range(1, 7):
            for _ in range(100):
                try:
                    await producer.emit("question_asked", question_asked(f"q{i}", "ann"))
                    break
                except Exception:
                    await asyncio.sleep(0.1)
        for stub in stubs:
            assert (await standing_of(stub, "ann", expect=14)).standing.points == 14


async def test_followers_of_a_collection_earn_its_curator_points_once_each(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    settings = settings_for(ReputationSettings, points_daily_cap={"collection_followed": 7})
    # The cap counts by the UTC day the follows are published: all of them on one day.
    await clear_of_midnight()

    def followed(follower: str, collection: str = "k1") -> events.CollectionFollowed:
        return events.CollectionFollowed(
            collection_id=collection, community_id=C1, curator_id="cur", follower_id=follower
        )

    async with running_service(settings, build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        first = await producer.emit("collection_followed", followed("ann"))
        await producer.redeliver(first)
        await producer.emit("collection_followed", followed("cur"))  # her own collection: nothing
        await producer.emit("collection_followed", followed("ann"))  # ann again (refollowed): nothing
        await producer.emit("collection_followed", followed("bob"))
        await standing_of(stub, "cur", expect=6)
        await producer.emit("collection_followed", followed("cat", "k2"))  # the cap of 7 a day cuts it to 1
        assert (await standing_of(stub, "cur", expect=7)).standing.points == 7
        docs = await service.app.infra.db.ledger.find({"member_id": "cur"}).sort("time", 1).to_list()
        assert [(d["rule"], d["actor_id"], d["amount"]) for d in docs] == [
            ("collection_followed", "ann", 3),
            ("collection_followed", "bob", 3),
            ("collection_followed", "cat", 1),
        ]
        rules = await stub.GetPointsRules(api.GetPointsRulesRequest(community_id=C1), metadata=auth("x"))
        assert {r.rule: (r.points, r.daily_cap) for r in rules.rules}["collection_followed"] == (3, 7)
