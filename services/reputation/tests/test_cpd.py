"""CPD credit for social learning, on real FerretDB and NATS: rules, credits once, caps under concurrency,
reflections, the learner's log and exports, owners' view with consent, and cpd_credit_recorded.

Over 400 lines: one feature's service tests share their fixtures and waiting helpers in one module."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from services.reputation.tests.support import C1, C2, Producer

from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import content_events_pb2 as events
from guild.events.v1 import reputation_events_pb2 as reputation_events
from guild.reputation.v1 import cpd_pb2 as cpd
from guild.reputation.v1 import reputation_service_pb2 as api
from guild.reputation.v1 import reputation_service_pb2_grpc as api_grpc
from guild_common.events.envelope import Envelope, new_envelope
from guild_common.events.inbound import bind
from guild_common.mongo import Document, ensure_indexes
from guild_common.settings import ServiceSettings
from guild_reputation.adapters import cpd_store
from guild_reputation.adapters.cpd_store import MongoCpd
from guild_reputation.app.cpd import CreditCounter
from guild_reputation.app.cpd_handlers import CpdCredits
from guild_reputation.bootstrap import build
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.cpd import (
    CpdActivity,
    CpdCredit,
    CpdRules,
    CreditState,
    Evidence,
    credit_id,
    validate_rules,
)
from guild_reputation.entrypoints.event_decoders import DECODERS
from guild_testing.calendar import clear_of_midnight
from guild_testing.fixtures import Infra, auth, database_name
from guild_testing.inprocess import running_service
from guild_testing.status import field_violations

BASE = "https://skills.example.com"
ANSWERS = [(CpdActivity.ANSWER_ACCEPTED, 30)]


@pytest.fixture
async def cpd_db(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[AsyncDatabase[Document]]:
    """A fresh database with the CPD indexes, dropped afterwards."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    db = client[database_name(request.node.name.removeprefix("test_")[:40])]
    await client.drop_database(db.name)
    try:
        await ensure_indexes(db, cpd_store.INDEXES)
        yield db
    finally:
        await client.drop_database(db.name)
        await client.close()


def _accepted(answer: str, author: str, title: str = "How do I profile asyncio?") -> events.AnswerAccepted:
    return events.AnswerAccepted(
        answer_id=answer,
        question_id="q" + answer,
        community_id=C1,
        answer_author_id=author,
        question_author_id="cat",
        question_title=title,
        question_tags=["python"],
    )


def _rules(reflection_required: bool = False, year_cap: int = 100) -> cpd.CpdRules:
    return cpd.CpdRules(
        activities=[
            cpd.CpdActivityRule(activity=cpd.CPD_ACTIVITY_ANSWER_ACCEPTED, minutes=30),
            cpd.CpdActivityRule(activity=cpd.CPD_ACTIVITY_RESOURCE_REVIEWED, minutes=15),
            cpd.CpdActivityRule(activity=cpd.CPD_ACTIVITY_REFLECTION_SURVEY, minutes=20),
            cpd.CpdActivityRule(activity=cpd.CPD_ACTIVITY_COLLECTION_PUBLISHED, minutes=45),
        ],
        year_cap_minutes=year_cap,
        reflection_required=reflection_required,
        year_start_month=4,
    )


async def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code()


async def _log(
    stub: api_grpc.ReputationServiceStub, member: str, expect: int, *, settled: bool = True
) -> api.ListCpdLogResponse:
    """The member's log once it holds ``expect`` credits (``settled``: none of them waiting)."""
    response = api.ListCpdLogResponse()
    for _ in range(200):
        response = await stub.ListCpdLog(
            api.ListCpdLogRequest(community_id=C1, page_size=100), metadata=auth(member)
        )
        if len(response.credits) >= expect and not (settled and response.totals.pending_credits):
            return api.ListCpdLogResponse.FromString(response.SerializeToString())
        await asyncio.sleep(0.05)
    raise AssertionError(f"{member} has {len(response.credits)} CPD credits, expected {expect}")


async def test_cpd_rules_credits_reflections_log_exports_and_consent(
    settings_for: Callable[..., ServiceSettings], producer: Producer
) -> None:
    settings = settings_for(ReputationSettings, cpd_evidence_base_url=BASE + "/")
    # The credits are dated now and read as the running CPD year's (from April): all in one UTC day.
    await clear_of_midnight()
    async with running_service(settings, build) as service:
        stub = api_grpc.ReputationServiceStub(service.channel)
        subscription = await producer.js.subscribe(
            "guild.*.*.reputation.cpd_credit_recorded", stream="GUILD_REPUTATION", ordered_consumer=True
        )
        for member, role in (("olivia", "owner"), ("ann", "member"), ("bob", "member")):
            await producer.emit(
                "member_joined",
                community_events.MemberJoined(community_id=C1, member_id=member, role=role),
                service="community",
            )
        rules = await stub.GetCpdRules(api.GetCpdRulesRequest(community_id=C1), metadata=auth("ann"))
        assert not rules.rules.enabled
        request = api.SetCpdRulesRequest(community_id=C1, rules=_rules())
        for _ in range(100):  # until the owner is in the read model
            try:
                set_ = await stub.SetCpdRules(request, metadata=auth("olivia"))
                break
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.05)
        assert (set_.rules.enabled, set_.rules.year_start_month, set_.rules.updated_by) == (True, 4, "olivia")
        # Members may not set the rules; bad rules name each field.
        for _ in range(100):  # until ann is in the read model
            code = await _code(stub.SetCpdRules(request, metadata=auth("ann")))
            if code != grpc.StatusCode.UNAVAILABLE:
                break
            await asyncio.sleep(0.05)
        assert code == grpc.StatusCode.PERMISSION_DENIED
        bad = api.SetCpdRulesRequest(
            community_id=C1,
            rules=cpd.CpdRules(
                activities=[cpd.CpdActivityRule(activity=cpd.CPD_ACTIVITY_UNSPECIFIED, minutes=601)],
                year_cap_minutes=0,
                year_start_month=0,
                time_zone="Europe/" + "Atlantis" * 40,
            ),
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SetCpdRules(bad, metadata=auth("olivia"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(caught.value)) == {
            "rules.activities[0].activity",
            "rules.activities[0].minutes",
            "rules.year_cap_minutes",
            "rules.year_start_month",
            "rules.time_zone",
        }
        assert "Atlantis" not in str(caught.value.details()) + str(caught.value.trailing_metadata())
        got = await stub.GetCpdRules(api.GetCpdRulesRequest(community_id=C1), metadata=auth("ann"))
        assert got.rules.time_zone == ""  # no zone: UTC
        assert next((r.activity, r.minutes) for r in got.rules.activities) == (
            cpd.CPD_ACTIVITY_ANSWER_ACCEPTED,
            30,
        )

        # ann: an accepted answer (redelivered, then accepted again: one credit), a review, a collection,
        # then a survey that would pass the cap of 100 minutes.
        first = await producer.emit("answer_accepted", _accepted("a1", "ann"))
        await producer.redeliver(first)
        await producer.emit("answer_accepted", _accepted("a1", "ann"))
        await producer.emit(
            "item_rated",
            events.ItemRated(
                item_id="r1", item_kind="resource", community_id=C1, author_id="cat", rater_id="ann", stars=4
            ),
        )
        await producer.emit(
            "collection_published",
            events.CollectionPublished(
                collection_id="k1", community_id=C1, curator_id="ann", title="Async <reading> list"
            ),
        )
        await _log(stub, "ann", 3)
        await producer.emit(
            "survey_response_submitted",
            community_events.SurveyResponseSubmitted(survey_id="s1", community_id=C1, member_id="ann"),
            service="community",
        )
        log = await _log(stub, "ann", 4)
        assert len(log.credits) == 4
        assert log.cpd_year == datetime.now(UTC).year - (1 if datetime.now(UTC).month < 4 else 0)
        states = {c.activity: c.state for c in log.credits}
        assert states == {
            cpd.CPD_ACTIVITY_ANSWER_ACCEPTED: cpd.CPD_CREDIT_STATE_COUNTED,
            cpd.CPD_ACTIVITY_RESOURCE_REVIEWED: cpd.CPD_CREDIT_STATE_COUNTED,
            cpd.CPD_ACTIVITY_COLLECTION_PUBLISHED: cpd.CPD_CREDIT_STATE_COUNTED,
            cpd.CPD_ACTIVITY_REFLECTION_SURVEY: cpd.CPD_CREDIT_STATE_OVER_CAP,
        }
        assert (log.totals.counted_minutes, log.totals.counted_credits, log.totals.over_cap_credits) == (
            90,
            3,
            1,
        )
        answer = next(c for c in log.credits if c.activity == cpd.CPD_ACTIVITY_ANSWER_ACCEPTED)
        assert answer.credit_id == f"{first.id}:cpd_answer_accepted"
        assert answer.evidence_url == f"{BASE}/communities/{C1}/questions/qa1#answer-a1"
        assert answer.description == "Answer accepted: How do I profile asyncio?"
        counter = await service.app.infra.db[cpd_store.COUNTERS].find_one(
            {"member_id": "ann", "kind": "year"}
        )
        assert counter is not None
        assert counter["minutes"] == 90

        # Pages of two, oldest first, keyset on time.
        page = await stub.ListCpdLog(
            api.ListCpdLogRequest(community_id=C1, page_size=2), metadata=auth("ann")
        )
        rest = await stub.ListCpdLog(
            api.ListCpdLogRequest(community_id=C1, page_size=2, page_token=page.next_page_token),
            metadata=auth("ann"),
        )
        assert page.next_page_token
        assert not rest.next_page_token
        ids = [c.credit_id for c in [*page.credits, *rest.credits]]
        assert ids == [c.credit_id for c in log.credits]
        assert len(set(ids)) == 4
        times = [c.activity_time.ToDatetime() for c in [*page.credits, *rest.credits]]
        assert times == sorted(times)
        assert rest.totals.counted_minutes == 90
        # Nobody reads another learner's log.
        other = api.ListCpdLogRequest(member_id="ann", community_id=C1)
        assert await _code(stub.ListCpdLog(other, metadata=auth("bob"))) == grpc.StatusCode.PERMISSION_DENIED
        assert (
            await _code(stub.ListCpdLog(other, metadata=auth("olivia"))) == grpc.StatusCode.PERMISSION_DENIED
        )

        # Reflections required from now: bob's credit waits for his.
        await stub.SetCpdRules(
            api.SetCpdRulesRequest(community_id=C1, rules=_rules(reflection_required=True)),
            metadata=auth("olivia"),
        )
        await producer.emit("answer_accepted", _accepted("a2", "bob", title="Why <b>bold</b>?"))
        (pending,) = (await _log(stub, "bob", 1, settled=False)).credits
        assert pending.state == cpd.CPD_CREDIT_STATE_PENDING_REFLECTION
        bob_log = await stub.ListCpdLog(api.ListCpdLogRequest(community_id=C1), metadata=auth("bob"))
        assert (bob_log.totals.counted_minutes, bob_log.totals.pending_minutes) == (0, 30)
        script = "<script>alert('cpd')</script> profiling first"
        reflection = cpd.CpdReflection(learned=script, practice_change="I measure before I tune.")
        add = api.AddCpdReflectionRequest(credit_id=pending.credit_id, reflection=reflection)
        assert await _code(stub.AddCpdReflection(add, metadata=auth("ann"))) == grpc.StatusCode.NOT_FOUND
        empty = api.AddCpdReflectionRequest(credit_id=pending.credit_id, reflection=cpd.CpdReflection())
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AddCpdReflection(empty, metadata=auth("bob"))
        assert set(field_violations(caught.value)) == {"reflection.learned", "reflection.practice_change"}
        reflected = (await stub.AddCpdReflection(add, metadata=auth("bob"))).credit
        assert reflected.state == cpd.CPD_CREDIT_STATE_COUNTED
        assert reflected.reflection.learned == script
        assert (
            await _code(stub.AddCpdReflection(add, metadata=auth("bob")))
            == grpc.StatusCode.FAILED_PRECONDITION
        )

        # A credit that counted without a reflection takes one for the record; its minutes stay as they were.
        noted = await stub.AddCpdReflection(
            api.AddCpdReflectionRequest(credit_id=answer.credit_id, reflection=reflection),
            metadata=auth("ann"),
        )
        assert (noted.credit.state, noted.credit.reflection.practice_change) == (
            cpd.CPD_CREDIT_STATE_COUNTED,
            "I measure before I tune.",
        )
        assert (await _log(stub, "ann", 4)).totals.counted_minutes == 90
        # Exports: CSV that parses, HTML that escapes.
        exported = await stub.ExportCpdLog(
            api.ExportCpdLogRequest(community_id=C1, format=cpd.CPD_EXPORT_FORMAT_CSV), metadata=auth("bob")
        )
        assert exported.content_type == "text/csv; charset=utf-8"
        rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8"))))
        assert len(rows) == 1
        assert (rows[0]["activity"], rows[0]["minutes"], rows[0]["status"]) == (
            "Answer accepted",
            "30",
            "counted",
        )
        assert rows[0]["evidence"] == f"{BASE}/communities/{C1}/questions/qa2#answer-a2"
        assert script in rows[0]["reflection"]
        statement = await stub.ExportCpdLog(
            api.ExportCpdLogRequest(community_id=C1, format=cpd.CPD_EXPORT_FORMAT_HTML), metadata=auth("bob")
        )
        html = statement.content.decode("utf-8")
        assert statement.content_type == "text/html; charset=utf-8"
        assert "<script" not in html
        assert "&lt;script&gt;" in html
        assert "Why &lt;b&gt;bold&lt;/b&gt;?" in html
        assert statement.totals.counted_minutes == 30
        ann_csv = await stub.ExportCpdLog(api.ExportCpdLogRequest(community_id=C1), metadata=auth("ann"))
        assert len(list(csv.DictReader(io.StringIO(ann_csv.content.decode())))) == 4

        # Owners see the totals of those who share them; the others are counted as not shared.
        totals = api.ListCpdMemberTotalsRequest(community_id=C1)
        assert (
            await _code(stub.ListCpdMemberTotals(totals, metadata=auth("bob")))
            == grpc.StatusCode.PERMISSION_DENIED
        )
        view = await stub.ListCpdMemberTotals(totals, metadata=auth("olivia"))
        assert (list(view.totals), view.not_shared_members) == ([], 2)
        for member in ("ann", "bob"):
            await stub.SetCpdSharing(
                api.SetCpdSharingRequest(community_id=C1, shared=True), metadata=auth(member)
            )
        await stub.SetCpdSharing(
            api.SetCpdSharingRequest(community_id=C1, shared=False), metadata=auth("bob")
        )
        view = await stub.ListCpdMemberTotals(totals, metadata=auth("olivia"))
        assert [(t.member_id, t.counted_minutes, t.counted_credits) for t in view.totals] == [("ann", 90, 3)]
        assert view.not_shared_members == 1
        await stub.SetCpdSharing(api.SetCpdSharingRequest(community_id=C1, shared=True), metadata=auth("bob"))
        first_page = await stub.ListCpdMemberTotals(
            api.ListCpdMemberTotalsRequest(community_id=C1, page_size=1), metadata=auth("olivia")
        )
        second_page = await stub.ListCpdMemberTotals(
            api.ListCpdMemberTotalsRequest(
                community_id=C1, page_size=1, page_token=first_page.next_page_token
            ),
            metadata=auth("olivia"),
        )
        assert [t.member_id for t in [*first_page.totals, *second_page.totals]] == ["ann", "bob"]
        assert second_page.not_shared_members == 0
        assert not second_page.next_page_token

        # One cpd_credit_recorded per counted credit, whatever the redeliveries.
        recorded: list[reputation_events.CpdCreditRecorded] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while len(recorded) < 4 and loop.time() < deadline:
            try:
                message = await subscription.next_msg(timeout=1)
            except TimeoutError:
                continue
            event = reputation_events.CpdCreditRecorded()
            event.ParseFromString(message.data)
            recorded.append(event)
        with pytest.raises(TimeoutError):
            await subscription.next_msg(timeout=1.5)
        await subscription.unsubscribe()
        assert sorted((e.member_id, e.activity, e.minutes) for e in recorded) == [
            ("ann", "answer_accepted", 30),
            ("ann", "collection_published", 45),
            ("ann", "resource_reviewed", 15),
            ("bob", "answer_accepted", 30),
        ]
        assert len({e.credit_id for e in recorded}) == 4
        assert all(e.cpd_year == log.cpd_year and e.evidence_url.startswith(BASE) for e in recorded)

        # A time zone: kept with the rules, and statements show dates on its clock and name it.
        london = _rules()
        london.time_zone = "Europe/London"
        set_ = await stub.SetCpdRules(
            api.SetCpdRulesRequest(community_id=C1, rules=london), metadata=auth("olivia")
        )
        got = await stub.GetCpdRules(api.GetCpdRulesRequest(community_id=C1), metadata=auth("ann"))
        assert (set_.rules.time_zone, got.rules.time_zone) == ("Europe/London", "Europe/London")
        # The year of the credits above: London's CPD year turns an hour before UTC's (BST on 31 March).
        statement = await stub.ExportCpdLog(
            api.ExportCpdLogRequest(
                community_id=C1, cpd_year=log.cpd_year, format=cpd.CPD_EXPORT_FORMAT_HTML
            ),
            metadata=auth("bob"),
        )
        assert "Dates are in the Europe/London time zone." in statement.content.decode("utf-8")
        bob_csv = await stub.ExportCpdLog(
            api.ExportCpdLogRequest(community_id=C1, cpd_year=log.cpd_year), metadata=auth("bob")
        )
        (row,) = csv.DictReader(io.StringIO(bob_csv.content.decode("utf-8")))
        assert row["time_zone"] == "Europe/London"


async def test_the_caps_hold_with_deliveries_at_once(cpd_db: AsyncDatabase[Document]) -> None:
    db = cpd_db
    store = MongoCpd(db, on_events=lambda *_: None)
    at = datetime(2026, 12, 6, 9, tzinfo=UTC)
    await store.put_rules(
        validate_rules(C1, [(CpdActivity.ANSWER_ACCEPTED, 30)], 100, 0, False, 1, updated_by="o", at=at)
    )
    credits = CpdCredits(store, CreditCounter(store), Evidence(BASE))
    handle = bind(DECODERS, credits.handlers())["guild.content.answer_accepted.v1"]

    def delivery(answer: str, member: str = "ann") -> Envelope:
        envelope = new_envelope(
            service="content",
            name="answer_accepted",
            payload=_accepted(answer, member),
            subject="s",
            region="emea",
            programme="sales",
        )
        return dataclasses.replace(envelope, time=at)

    async def counted(member: str, kind: str = "year") -> int:
        doc = await db[cpd_store.COUNTERS].find_one({"member_id": member, "kind": kind})
        return int(doc["minutes"]) if doc else 0

    # Two deliveries at once where only one fits, many times over; and eight at once where three fit.
    for round_ in range(5):
        member = f"m{round_}"
        await store.put_rules(
            validate_rules(C1, [(CpdActivity.ANSWER_ACCEPTED, 30)], 50, 0, False, 1, updated_by="o", at=at)
        )
        await asyncio.gather(handle(delivery(f"x{round_}", member)), handle(delivery(f"y{round_}", member)))
        assert await counted(member) == 30
        states = await db[cpd_store.CREDITS].distinct("state", {"member_id": member})
        assert sorted(states) == ["counted", "over_cap"]
    await store.put_rules(
        validate_rules(C1, [(CpdActivity.ANSWER_ACCEPTED, 30)], 100, 0, False, 1, updated_by="o", at=at)
    )
    many = [delivery(f"a{i}") for i in range(8)]
    await asyncio.gather(*(handle(e) for e in many), *(handle(e) for e in many[:4]))
    assert await counted("ann") == 90
    assert await db[cpd_store.CREDITS].count_documents({"member_id": "ann"}) == 8
    assert await db[cpd_store.CREDITS].count_documents({"member_id": "ann", "state": "counted"}) == 3
    # A credit a crash left half counted is finished by the redelivery, once.
    await store.put_rules(
        validate_rules(C1, [(CpdActivity.ANSWER_ACCEPTED, 30)], 100, 0, False, 1, updated_by="o", at=at)
    )
    crashed = delivery("c1", "kim")
    await store.add(
        CpdCredit(
            id=credit_id(crashed.id, CpdActivity.ANSWER_ACCEPTED),
            community_id=C1,
            member_id="kim",
            activity=CpdActivity.ANSWER_ACCEPTED,
            minutes=30,
            state=CreditState.RESERVING,
            cpd_year=2026,
            month="2026-12",
            time=at,
            target_id="c1",
            description="",
            evidence_url="",
            source_event_id=crashed.id,
        )
    )
    await store.reserve(
        f"y:{C1}:kim:2026",
        {"kind": "year", "member_id": "kim"},
        f"{crashed.id}:cpd_answer_accepted",
        30,
        100,
    )
    await asyncio.gather(handle(crashed), handle(crashed))
    assert await counted("kim") == 30
    kim = await db[cpd_store.CREDITS].find_one({"member_id": "kim"})
    assert kim is not None
    assert (kim["state"], len(kim["outbox"])) == ("counted", 1)
    # A monthly cap: what it refuses is taken off the year counter again.
    await store.put_rules(
        validate_rules(C1, [(CpdActivity.ANSWER_ACCEPTED, 30)], 100, 40, False, 1, updated_by="o", at=at)
    )
    await asyncio.gather(handle(delivery("b1", "zoe")), handle(delivery("b2", "zoe")))
    assert (await counted("zoe"), await counted("zoe", "month")) == (30, 30)


async def test_time_zones_set_cpd_years_and_months_and_rules_apply_from_when_set(
    cpd_db: AsyncDatabase[Document],
) -> None:
    db = cpd_db
    store = MongoCpd(db, on_events=lambda *_: None)
    handle = bind(DECODERS, CpdCredits(store, CreditCounter(store), Evidence(BASE)).handlers())[
        "guild.content.answer_accepted.v1"
    ]

    def delivery(community: str, answer: str, member: str, at: datetime) -> Envelope:
        accepted = _accepted(answer, member)
        accepted.community_id = community
        envelope = new_envelope(
            service="content",
            name="answer_accepted",
            payload=accepted,
            subject="s",
            region="emea",
            programme="nhs",
        )
        return dataclasses.replace(envelope, time=at)

    async def credit(community: str, member: str, answer: str) -> Document:
        doc = await db[cpd_store.CREDITS].find_one(
            {"community_id": community, "member_id": member, "target_id": answer}
        )
        assert doc is not None
        return doc

    # Activity before a community has rules earns nothing, not even once rules are set.
    set_at = datetime(2026, 12, 6, 9, tzinfo=UTC)
    await handle(delivery(C1, "early", "ann", datetime(2026, 12, 1, tzinfo=UTC)))

    def monthly_40(community: str, at: datetime, zone: str) -> CpdRules:
        return validate_rules(community, ANSWERS, 600, 40, False, 4, updated_by="o", at=at, time_zone=zone)

    for community, zone in ((C1, "Europe/London"), (C2, "")):
        await store.put_rules(monthly_40(community, set_at, zone))
    await handle(delivery(C1, "late-handled", "ann", datetime(2026, 12, 6, 8, tzinfo=UTC)))
    assert await db[cpd_store.CREDITS].count_documents({}) == 0
    # Setting the rules again later keeps the moment they first applied from.
    await store.put_rules(monthly_40(C1, datetime(2027, 3, 1, tzinfo=UTC), "Europe/London"))
    rules = await store.rules(C1)
    assert rules is not None
    assert (rules.time_zone, rules.since) == ("Europe/London", set_at)

    # 23:30 UTC on 31 March 2027 is 00:30 BST on 1 April: CPD year 2027 in London, 2026 in UTC.
    late = datetime(2027, 3, 31, 23, 30, tzinfo=UTC)
    await handle(delivery(C1, "a1", "ann", late))
    await handle(delivery(C2, "a1", "ann", late))
    in_london, in_utc = await credit(C1, "ann", "a1"), await credit(C2, "ann", "a1")
    assert (in_london["cpd_year"], in_london["month"]) == (2027, "2027-04")
    assert (in_utc["cpd_year"], in_utc["month"]) == (2026, "2027-03")
    assert await db[cpd_store.COUNTERS].find_one({"_id": f"y:{C1}:ann:2027"}) is not None
    assert await db[cpd_store.COUNTERS].find_one({"_id": f"y:{C2}:ann:2026"}) is not None

    # The monthly cap of 40 by London's months: 23:30 UTC on 30 April is 00:30 on 1 May there, in the
    # same month as 10:00 on 1 May, so the second does not fit; by UTC's months both count.
    for community in (C1, C2):
        await handle(delivery(community, "m1", "zoe", datetime(2027, 4, 30, 23, 30, tzinfo=UTC)))
        await handle(delivery(community, "m2", "zoe", datetime(2027, 5, 1, 10, tzinfo=UTC)))
    states = {
        (d["community_id"], d["target_id"]): (d["month"], d["state"])
        async for d in db[cpd_store.CREDITS].find({"member_id": "zoe"})
    }
    assert states == {
        (C1, "m1"): ("2027-05", "counted"),
        (C1, "m2"): ("2027-05", "over_cap"),
        (C2, "m1"): ("2027-04", "counted"),
        (C2, "m2"): ("2027-05", "counted"),
    }

    # Rules stored before time zones existed (no time_zone, no since) read as UTC, with no start.
    await db[cpd_store.RULES].insert_one(
        {
            "_id": "c-old",
            "minutes": {"answer_accepted": 30},
            "year_cap": 600,
            "month_cap": 0,
            "reflection_required": False,
            "year_start_month": 4,
            "updated_by": "o",
            "update_time": set_at,
            "version": 1,
        }
    )
    old = await store.rules("c-old")
    assert old is not None
    assert (old.time_zone, old.zone, old.since) == ("", UTC, None)
    await handle(delivery("c-old", "o1", "ann", late))
    before_rules = await credit("c-old", "ann", "o1")
    assert (before_rules["cpd_year"], before_rules["month"], before_rules["state"]) == (
        2026,
        "2027-03",
        "counted",
    )
