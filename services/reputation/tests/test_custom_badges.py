"""Owners' custom badges from rule templates, and awards exported as Open Badges 3.0 credentials.

Over 400 lines: the definitions, the awards and the credentials share the definition and event builders
of one module."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.rpc import error_details_pb2
from pymongo import AsyncMongoClient
from services.reputation.tests.support import C1, Producer

from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import content_events_pb2 as events
from guild.events.v1 import reputation_events_pb2 as reputation_events
from guild.reputation.v1 import badge_pb2
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.inbound import bind
from guild_common.mongo import Document, ensure_indexes
from guild_common.settings import ServiceSettings
from guild_reputation.adapters import badges_store, custom_badges_store
from guild_reputation.adapters.badges_store import MongoBadges
from guild_reputation.adapters.custom_badges_store import MongoBadgeDefinitions
from guild_reputation.adapters.post_tags_store import MongoPostTags
from guild_reputation.app.custom_badges_handlers import CustomBadgeRules
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.badges import Award, Badge, Tier
from guild_reputation.domain.credentials import Issuer, open_badge_credential
from guild_reputation.domain.custom_badges import (
    BadgeDefinition,
    CountedEvent,
    Template,
    TemplatePeriod,
)
from guild_reputation.domain.periods import Calendar
from guild_reputation.entrypoints.event_decoders import DECODERS
from guild_testing.calendar import clear_of_midnight
from guild_testing.fixtures import Infra, auth, database_name, token_for
from guild_testing.inprocess import running_service
from guild_testing.status import details_of, expect_request_id_reused, field_violations

SERVICE = [("authorization", f"Bearer {token_for('hr', scopes=('service',))}")]
MONDAY = datetime(2026, 11, 30, 9, tzinfo=UTC)


def _definition(period: TemplatePeriod, repeatable: bool, rolling_days: int = 0) -> BadgeDefinition:
    return BadgeDefinition(
        id="bd1",
        community_id=C1,
        title="Asker",
        description="",
        tier=Tier.BRONZE,
        template=Template(CountedEvent.QUESTION_ASKED, 3, period, rolling_days),
        repeatable=repeatable,
        created_by="olivia",
        create_time=MONDAY,
    )


def test_counting_keys_per_period() -> None:
    calendar = Calendar("UTC")
    week = _definition(TemplatePeriod.WEEK, repeatable=True).count(calendar, MONDAY)
    assert (week.bucket, week.award_key) == ("w2026-W49", "w2026-W49")
    once = _definition(TemplatePeriod.MONTH, repeatable=False).count(calendar, MONDAY)
    assert (once.bucket, once.award_key) == ("m2026-11", "once")
    rolling = _definition(TemplatePeriod.ROLLING_DAYS, repeatable=True, rolling_days=7)
    count = rolling.count(calendar, MONDAY)
    assert count.bucket == ""
    assert count.day - count.window_start == 6
    assert count.award_key == f"day{count.day}"
    assert rolling.award_id("ann", count.award_key) == f"{C1}:ann:custom:bd1:{count.award_key}"
    tagged = Template(CountedEvent.ANSWER_ACCEPTED, 5, TemplatePeriod.WEEK, tag="python")
    assert tagged.narrative() == (
        "At least 5 accepted answers about posts tagged python in one calendar week, in the community."
    )


def test_a_champion_award_as_an_open_badge_credential() -> None:
    award = Award.of(
        C1, "max", Badge.CHAMPION, Tier.BRONZE, MONDAY, citation="Ran the clinic", granted_by="o"
    )
    credential = open_badge_credential(award, Issuer("https://skills.example.com/", "Example Corp"))
    assert credential["id"] == f"https://skills.example.com/credentials/{C1}%3Amax%3Achampion%3Abronze"
    assert credential["issuer"] == {
        "id": "https://skills.example.com/",
        "type": ["Profile"],
        "name": "Example Corp",
    }
    assert credential["validFrom"] == "2026-11-30T09:00:00Z"
    subject = credential["credentialSubject"]
    assert subject["narrative"] == "Ran the clinic"
    assert (
        subject["achievement"]["id"]
        == f"https://skills.example.com/communities/{C1}/achievements/champion/bronze"
    )
    assert "proof" not in credential


async def _custom_awards(
    stub: api_grpc.ReputationServiceStub, member: str, expect: int
) -> list[badge_pb2.BadgeAward]:
    awards: list[badge_pb2.BadgeAward] = []
    for _ in range(200):
        response = await stub.ListBadges(
            api.ListBadgesRequest(member_id=member, page_size=100), metadata=auth(member)
        )
        awards = [a for a in response.awards if a.badge == "custom"]
        if len(awards) >= expect:
            return awards
        await asyncio.sleep(0.05)
    raise AssertionError(f"{member} has {len(awards)} custom awards, expected {expect}")


def _question(qid: str, tags: list[str] | None = None) -> events.QuestionAsked:
    return events.QuestionAsked(question_id=qid, community_id=C1, author_id="cat", tags=tags or [])


def _answer(aid: str, qid: str) -> events.AnswerPosted:
    return events.AnswerPosted(
        answer_id=aid, question_id=qid, community_id=C1, author_id="ann", question_author_id="cat"
    )


def _accepted(aid: str, qid: str) -> events.AnswerAccepted:
    return events.AnswerAccepted(
        answer_id=aid, question_id=qid, community_id=C1, answer_author_id="ann", question_author_id="cat"
    )


async def test_owners_define_badges_that_counted_events_award_once_per_period(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    signing_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    settings = settings_for(
        ReputationSettings,
        badge_issuer_url="https://skills.example.com",
        badge_issuer_name="Example Corp",
        badge_signing_key=signing_key.decode(),
    )
    async with running_service(settings, build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        for member, role in (("olivia", "owner"), ("max", "member"), ("lea", "member")):
            await producer.emit(
                "member_joined",
                community_events.MemberJoined(
                    community_id=C1, member_id=member, role=role, region="emea", programme="sales"
                ),
                service="community",
                # A second older than the leave: the read model orders a person's changes by event time.
                age=timedelta(seconds=1),
            )
        await producer.emit(
            "member_left", community_events.MemberLeft(community_id=C1, member_id="lea"), service="community"
        )
        helper = api.CreateBadgeDefinitionRequest(
            community_id=C1,
            title=" Python helper ",
            description="Answers Python questions others accept.",
            tier=badge_pb2.BADGE_TIER_SILVER,
            template=badge_pb2.BadgeTemplate(event_type="answer_accepted", threshold=2, tag="Python"),
            request_id="r1",
        )
        for _ in range(100):  # until the memberships are in the read model
            try:
                created = (await stub.CreateBadgeDefinition(helper, metadata=auth("olivia"))).definition
                break
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.05)
        assert (created.title, created.template.tag, created.template.period) == (
            "Python helper",
            "python",
            badge_pb2.BADGE_PERIOD_ALL_TIME,
        )
        again = await stub.CreateBadgeDefinition(helper, metadata=auth("olivia"))
        assert again.definition.definition_id == created.definition_id
        renamed = api.CreateBadgeDefinitionRequest()
        renamed.CopyFrom(helper)
        renamed.title = "Go helper"
        await expect_request_id_reused(stub.CreateBadgeDefinition(renamed, metadata=auth("olivia")))
        weekly = await stub.CreateBadgeDefinition(
            api.CreateBadgeDefinitionRequest(
                community_id=C1,
                title="Curious",
                template=badge_pb2.BadgeTemplate(
                    event_type="question_asked", threshold=2, period=badge_pb2.BADGE_PERIOD_WEEK
                ),
                repeatable=True,
                request_id="r2",
            ),
            metadata=auth("olivia"),
        )
        # Members may not define badges; bad templates name each field.
        for _ in range(100):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.CreateBadgeDefinition(helper, metadata=auth("max"))
            if caught.value.code() != grpc.StatusCode.UNAVAILABLE:
                break
            await asyncio.sleep(0.05)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        (info,) = details_of(caught.value, error_details_pb2.ErrorInfo)
        assert info.metadata["required_role"] == "owner"
        bad = api.CreateBadgeDefinitionRequest(
            community_id=C1,
            title="",
            template=badge_pb2.BadgeTemplate(
                event_type="collection_published",
                threshold=0,
                period=badge_pb2.BADGE_PERIOD_WEEK,
                rolling_days=5,
                tag="x",
            ),
            request_id="r3",
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateBadgeDefinition(bad, metadata=auth("olivia"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(caught.value)) == {
            "title",
            "template.threshold",
            "template.rolling_days",
            "template.tag",
        }
        bad.title, bad.template.event_type, bad.template.threshold = "X", "made_up", 1
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateBadgeDefinition(bad, metadata=auth("olivia"))
        assert "template.event_type" in field_violations(caught.value)

        # cat asks twice two weeks ago and twice this week: the weekly badge twice. This week's two
        # questions must fall in one ISO week.
        await clear_of_midnight()
        for qid in ("qa", "qb"):
            await producer.emit("question_asked", _question(qid), age=timedelta(days=14))
        q1 = await producer.emit("question_asked", _question("q1", ["python"]))
        await producer.redeliver(q1)
        await producer.emit("question_asked", _question("q2"))
        # ann's accepted answers: one on Python, one untagged (does not count), then redelivered.
        await producer.emit("answer_posted", _answer("a1", "q1"))
        await producer.emit("answer_posted", _answer("a2", "q1"))
        await producer.emit("answer_posted", _answer("b1", "q2"))
        first = await producer.emit("answer_accepted", _accepted("a1", "q1"))
        await producer.redeliver(first)
        await producer.emit("answer_accepted", _accepted("b1", "q2"))
        cat = await _custom_awards(stub, "cat", 2)
        assert {a.definition_id for a in cat} == {weekly.definition.definition_id}
        assert len({a.award_id for a in cat}) == 2

        # Archived: no longer awarded, no longer listed unless asked.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ArchiveBadgeDefinition(
                api.ArchiveBadgeDefinitionRequest(definition_id=weekly.definition.definition_id),
                metadata=auth("max"),
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ArchiveBadgeDefinition(
                api.ArchiveBadgeDefinitionRequest(definition_id="bd_unknown"), metadata=auth("olivia")
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        archived = await stub.ArchiveBadgeDefinition(
            api.ArchiveBadgeDefinitionRequest(definition_id=weekly.definition.definition_id),
            metadata=auth("olivia"),
        )
        assert archived.definition.archived
        assert archived.definition.HasField("archive_time")
        listed = await stub.ListBadgeDefinitions(
            api.ListBadgeDefinitionsRequest(community_id=C1), metadata=auth("max")
        )
        assert [d.definition_id for d in listed.definitions] == [created.definition_id]
        everything = await stub.ListBadgeDefinitions(
            api.ListBadgeDefinitionsRequest(community_id=C1, include_archived=True, page_size=1),
            metadata=auth("max"),
        )
        assert [d.definition_id for d in everything.definitions] == [weekly.definition.definition_id]
        rest = await stub.ListBadgeDefinitions(
            api.ListBadgeDefinitionsRequest(
                community_id=C1, include_archived=True, page_size=1, page_token=everything.next_page_token
            ),
            metadata=auth("max"),
        )
        assert [d.definition_id for d in rest.definitions] == [created.definition_id]
        # Members and services read the definitions; a former member does not; in a community never
        # heard of, nobody reads or defines any.
        assert (
            await stub.ListBadgeDefinitions(
                api.ListBadgeDefinitionsRequest(community_id=C1), metadata=SERVICE
            )
        ).definitions
        code = None
        for _ in range(600):  # until lea's leaving is in the read model (30 s at most)
            try:
                await stub.ListBadgeDefinitions(
                    api.ListBadgeDefinitionsRequest(community_id=C1), metadata=auth("lea")
                )
            except grpc.aio.AioRpcError as error:
                code = error.code()
                if code == grpc.StatusCode.PERMISSION_DENIED:
                    break
            await asyncio.sleep(0.05)
        assert code == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListBadgeDefinitions(
                api.ListBadgeDefinitionsRequest(community_id="c-none"), metadata=SERVICE
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        elsewhere = api.CreateBadgeDefinitionRequest()
        elsewhere.CopyFrom(helper)
        elsewhere.community_id, elsewhere.request_id = "c-none", "r4"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateBadgeDefinition(elsewhere, metadata=auth("olivia"))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        for qid in ("qc", "qd"):
            await producer.emit("question_asked", _question(qid), age=timedelta(days=7))
        await producer.emit("answer_accepted", _accepted("a2", "q1"))
        (helper_award,) = await _custom_awards(stub, "ann", 1)
        assert len(await _custom_awards(stub, "cat", 2)) == 2
        assert (helper_award.title, helper_award.tier, helper_award.definition_id) == (
            "Python helper",
            badge_pb2.BADGE_TIER_SILVER,
            created.definition_id,
        )
        assert helper_award.description == "Answers Python questions others accept."

        # Each award is published as badge_awarded, naming its definition.
        subscription = await producer.js.subscribe(
            "guild.*.*.reputation.badge_awarded", stream="GUILD_REPUTATION", ordered_consumer=True
        )
        custom: dict[str, str] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while len(custom) < 3 and loop.time() < deadline:
            try:
                message = await subscription.next_msg(timeout=1)
            except TimeoutError:
                continue
            awarded = reputation_events.BadgeAwarded()
            awarded.ParseFromString(message.data)
            if awarded.badge == "custom":
                custom[awarded.award_id] = awarded.definition_id
        await subscription.unsubscribe()
        assert custom == {
            helper_award.award_id: created.definition_id,
            **{a.award_id: weekly.definition.definition_id for a in cat},
        }

        # The holder, an owner or a service export it as an Open Badges 3.0 credential; others may not.
        request = api.ExportBadgeCredentialRequest(award_id=helper_award.award_id)
        exported = await stub.ExportBadgeCredential(request, metadata=auth("ann"))
        credential = json.loads(exported.credential_json)
        assert credential["@context"] == [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ]
        assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
        assert credential["id"].startswith("https://skills.example.com/credentials/")
        assert credential["issuer"] == {
            "id": "https://skills.example.com",
            "type": ["Profile"],
            "name": "Example Corp",
        }
        assert credential["name"] == "Python helper"
        valid_from = datetime.fromisoformat(credential["validFrom"].replace("Z", "+00:00"))
        assert valid_from == helper_award.award_time.ToDatetime(tzinfo=UTC).replace(microsecond=0)
        subject = credential["credentialSubject"]
        assert subject["type"] == ["AchievementSubject"]
        assert subject["identifier"][0]["identityHash"] == "ann"
        achievement = subject["achievement"]
        assert achievement["type"] == ["Achievement"]
        assert achievement["achievementType"] == "Badge"
        assert achievement["id"].endswith(f"/achievements/custom/{created.definition_id}")
        assert achievement["description"] == "Answers Python questions others accept."
        assert achievement["criteria"]["narrative"] == (
            "At least 2 accepted answers about posts tagged python, in the community."
        )
        assert "proof" not in credential
        # The same credential signed, verifiable with the issuer's published keys alone.
        issuer = await stub.GetBadgeIssuer(api.GetBadgeIssuerRequest(), metadata=auth("max"))
        assert json.loads(issuer.profile_json)["id"] == "https://skills.example.com"
        keys = jwt.PyJWKSet.from_json(issuer.jwks_json)
        header = jwt.get_unverified_header(exported.credential_jwt)
        assert (header["alg"], header["typ"]) == ("ES256", "vc+jwt")
        key = next(k for k in keys.keys if k.key_id == header["kid"])
        claims = jwt.decode(
            exported.credential_jwt, key.key, algorithms=["ES256"], issuer="https://skills.example.com"
        )
        assert {k: v for k, v in claims.items() if k not in ("iss", "jti", "iat", "nbf")} == credential
        assert claims["jti"] == credential["id"]
        head, body, signature = exported.credential_jwt.split(".")
        forged = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        forged["name"] = "Grand master"
        forged_body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(f"{head}.{forged_body}.{signature}", key.key, algorithms=["ES256"])
        by_owner = await stub.ExportBadgeCredential(request, metadata=auth("olivia"))
        assert json.loads(by_owner.credential_json)["id"] == credential["id"]
        assert (await stub.ExportBadgeCredential(request, metadata=SERVICE)).credential_json
        built_in = await stub.ExportBadgeCredential(
            api.ExportBadgeCredentialRequest(award_id=f"{C1}:ann:first_answer:bronze"), metadata=auth("ann")
        )
        first_answer = json.loads(built_in.credential_json)["credentialSubject"]["achievement"]
        assert (first_answer["name"], first_answer["criteria"]["narrative"]) == (
            "First answer",
            "Answer 1 question asked by someone else.",
        )
        for award_id, caller, code in (
            (helper_award.award_id, "max", grpc.StatusCode.PERMISSION_DENIED),
            ("nope", "ann", grpc.StatusCode.NOT_FOUND),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ExportBadgeCredential(
                    api.ExportBadgeCredentialRequest(award_id=award_id), metadata=auth(caller)
                )
            assert caught.value.code() == code


async def test_rolling_windows_tags_of_commented_posts_and_collection_follows(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    async with running_service(settings_for(ReputationSettings), build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        await producer.emit(
            "member_joined",
            community_events.MemberJoined(community_id=C1, member_id="olivia", role="owner"),
            service="community",
        )
        commenter = api.CreateBadgeDefinitionRequest(
            community_id=C1,
            title="Go commenter",
            template=badge_pb2.BadgeTemplate(
                event_type="comment_posted",
                threshold=2,
                period=badge_pb2.BADGE_PERIOD_ROLLING_DAYS,
                rolling_days=3,
                tag="go",
            ),
            request_id="c1",
        )
        for _ in range(100):  # until the owner is in the read model
            try:
                await stub.CreateBadgeDefinition(commenter, metadata=auth("olivia"))
                break
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.05)
        followed = await stub.CreateBadgeDefinition(
            api.CreateBadgeDefinitionRequest(
                community_id=C1,
                title="Followed curator",
                template=badge_pb2.BadgeTemplate(event_type="collection_followed", threshold=2),
                request_id="c2",
            ),
            metadata=auth("olivia"),
        )

        def comment(cid: str, post: str, question: str) -> events.CommentPosted:
            return events.CommentPosted(
                comment_id=cid, post_id=post, question_id=question, community_id=C1, author_id="ann"
            )

        def follow(follower: str) -> events.CollectionFollowed:
            return events.CollectionFollowed(
                collection_id="k1", community_id=C1, curator_id="cur", follower_id=follower
            )

        await producer.emit("question_asked", _question("qg", ["Go"]), age=timedelta(days=6))
        await producer.emit("question_asked", _question("qx"), age=timedelta(days=6))
        await producer.emit("answer_posted", _answer("ag", "qg"), age=timedelta(days=6))
        # Five days ago and now: not within three days. On an untagged question: does not count.
        await producer.emit("comment_posted", comment("m1", "qg", "qg"), age=timedelta(days=5))
        await producer.emit("comment_posted", comment("m2", "qg", "qg"))
        await producer.emit("comment_posted", comment("m3", "qx", "qx"))
        # Curators earn by others' follows, each follower once.
        for follower in ("bob", "bob", "cur"):
            await producer.emit("collection_followed", follow(follower))
        earned = await producer.emit(
            "comment_posted", comment("m4", "ag", "qg")
        )  # the answer's question's tags
        (award,) = await _custom_awards(stub, "ann", 1)
        assert award.title == "Go commenter"
        stored = await service.app.infra.db.badge_awards.find_one({"_id": award.award_id})
        assert stored is not None
        assert stored["source_event_id"] == earned.id
        assert await service.app.infra.db.badge_awards.count_documents({"member_id": "cur"}) == 0
        await producer.emit("collection_followed", follow("dan"))
        (curated,) = await _custom_awards(stub, "cur", 1)
        assert curated.definition_id == followed.definition.definition_id


async def test_a_repeatable_rolling_window_counts_each_event_towards_one_award(infra: Infra) -> None:
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    db = client[database_name("rolling_awards")]
    await client.drop_database(db.name)
    try:
        await ensure_indexes(db, [*badges_store.INDEXES, *custom_badges_store.INDEXES])
        calendar = Calendar("UTC")
        definitions, awards = MongoBadgeDefinitions(db), MongoBadges(db, on_events=lambda *_: None)
        await definitions.create(_definition(TemplatePeriod.ROLLING_DAYS, repeatable=True, rolling_days=7))
        handle = bind(
            DECODERS, CustomBadgeRules(definitions, awards, MongoPostTags(db), calendar).handlers()
        )["guild.content.question_asked.v1"]
        # The last day of a block of 7 days from 1970-01-01: the next day starts another block.
        day = (datetime(2026, 11, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days
        first = datetime(1970, 1, 1, 9, tzinfo=UTC) + timedelta(days=day - day % 7 + 6)

        async def ask(qid: str, at: datetime) -> Envelope:
            envelope = new_envelope(
                service="content",
                name="question_asked",
                payload=_question(qid),
                subject="s",
                region="emea",
                programme="sales",
            )
            envelope = dataclasses.replace(envelope, time=at)
            await handle(envelope)
            return envelope

        async def held() -> list[str]:
            docs = await db[badges_store.BADGE_AWARDS].find({"member_id": "cat"}).to_list()
            return sorted(str(d["source_event_id"]) for d in docs)

        earned = [await ask(f"q{i}", first + timedelta(minutes=i)) for i in range(3)]
        assert await held() == [earned[2].id]
        await handle(earned[2])  # redelivered
        assert await held() == [earned[2].id]
        # The next day, within 7 days of the three: they counted towards the award given already.
        await ask("q3", first + timedelta(days=1))
        assert await held() == [earned[2].id]
        await ask("q4", first + timedelta(days=2))
        again = await ask("q5", first + timedelta(days=3))  # three since the award
        assert await held() == sorted([earned[2].id, again.id])
        # Awarded before the last award's day was kept: under the key of its block of 7 days.
        definition = await definitions.get("bd1")
        assert definition is not None
        for i in range(3):
            count = definition.count(calendar, first)
            await definitions.tick("bd1", f"old{i}", "dan", count)
        legacy_key = f"d{count.day // 7}"
        legacy = Award(
            id=definition.award_id("dan", legacy_key),
            community_id=C1,
            member_id="dan",
            badge="custom",
            tier=Tier.BRONZE,
            time=first,
            definition_id="bd1",
            custom_title="Asker",
        )
        assert await awards.award(legacy, region="emea", programme="sales")
        envelope = new_envelope(
            service="content",
            name="question_asked",
            payload=events.QuestionAsked(question_id="qd", community_id=C1, author_id="dan"),
            subject="s",
            region="emea",
            programme="sales",
        )
        await handle(dataclasses.replace(envelope, time=first + timedelta(days=1)))
        assert await db[badges_store.BADGE_AWARDS].count_documents({"member_id": "dan"}) == 1
    finally:
        await client.drop_database(db.name)
        await client.close()
