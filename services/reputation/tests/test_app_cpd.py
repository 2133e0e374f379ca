"""CPD on in-memory ports: owners' rules, credits from events within the caps (once per event and
target), reflections, the learner's log and exports, and the totals members share with owners."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta

import pytest
from services.reputation.tests.app_world import C1, EVIDENCE_BASE, World, meta, who
from services.reputation.tests.memory import T0

from guild.events.v1 import reputation_events_pb2 as rep_events
from guild_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from guild_reputation.domain import integration_events as ev
from guild_reputation.domain.cpd import CpdActivity, CpdCredit, CpdRules, CreditState

# Carried by acceptances, so the points handler does not wait for the questions' tags.
TAGS = ("python",)
RULES = [
    (CpdActivity.ANSWER_ACCEPTED, 30),
    (CpdActivity.RESOURCE_REVIEWED, 15),
    (CpdActivity.COLLECTION_PUBLISHED, 45),
    (CpdActivity.REFLECTION_SURVEY, 20),
]


async def cpd_world(*, reflection_required: bool = False, year_cap: int = 100, month_cap: int = 0) -> World:
    """olivia owns ``C1`` (ann and bob are members) and has set its CPD rules, the year from April."""
    world = World()
    for member, role in (("olivia", "owner"), ("ann", "member"), ("bob", "member")):
        await world.join(member, C1, role)
    await set_rules(world, reflection_required=reflection_required, year_cap=year_cap, month_cap=month_cap)
    return world


async def set_rules(
    world: World,
    *,
    reflection_required: bool = False,
    year_cap: int = 100,
    month_cap: int = 0,
    zone: str = "",
) -> CpdRules:
    return await world.cpd.set_rules(
        who("olivia"), C1, RULES, year_cap, month_cap, reflection_required, 4, zone
    )


def accepted(
    answer: str, author: str, *, title: str = "How do I profile asyncio?", event_id: str = ""
) -> ev.AnswerAccepted:
    return ev.AnswerAccepted(meta(event_id), answer, f"q{answer}", C1, author, "cat", title, TAGS)


def states(world: World, member: str) -> dict[CpdActivity, CreditState]:
    return {c.activity: c.state for c in world.cpd_store.credits() if c.member_id == member}


# Rules


async def test_owners_set_the_rules_members_read_them() -> None:
    world = World()
    await world.join("olivia", C1, "owner")
    await world.join("ann", C1)
    assert await world.cpd.rules(who("ann"), C1) is None
    rules = await set_rules(world)
    assert (rules.year_start_month, rules.updated_by, rules.minutes[CpdActivity.ANSWER_ACCEPTED]) == (
        4,
        "olivia",
        30,
    )
    stored = await world.cpd.rules(who("ann"), C1)
    assert stored is not None
    assert stored.since == T0
    with pytest.raises(PermissionDenied) as denied:
        await world.cpd.set_rules(who("ann"), C1, RULES, 100, 0, False, 4)
    assert denied.value.reason == "NOT_COMMUNITY_OWNER"
    with pytest.raises(InvalidArgument) as caught:
        await world.cpd.set_rules(
            who("olivia"), C1, [(None, 601)], 0, 0, False, 0, "Europe/" + "Atlantis" * 40
        )
    assert {v.field for v in caught.value.violations} == {
        "rules.activities[0].activity",
        "rules.activities[0].minutes",
        "rules.year_cap_minutes",
        "rules.year_start_month",
        "rules.time_zone",
    }
    assert "Atlantis" not in str(caught.value)
    with pytest.raises(InvalidArgument):
        await world.cpd.rules(who("ann"), "")


async def test_the_rules_of_a_hidden_community_are_not_found_to_outsiders() -> None:
    world = World()
    await world.create_community(C1, "hidden")
    await world.join("olivia", C1, "owner")
    await set_rules(world)
    with pytest.raises(NotFound):
        await world.cpd.rules(who("stranger"), C1)
    with pytest.raises(NotFound):
        await world.cpd.share(who("stranger"), C1, True)
    assert await world.cpd.rules(who("olivia"), C1) is not None


# Credits


async def test_credits_count_once_per_event_and_target_within_the_year_cap() -> None:
    world = await cpd_world()
    first = accepted("a1", "ann", event_id="acc-1")
    await world.handle(first)
    await world.handle(first)  # redelivered
    await world.handle(accepted("a1", "ann"))  # accepted again: the same answer
    await world.handle(ev.ItemRated(meta(), "r1", "resource", C1, "cat", "ann", 4, 4.0, 1, T0))
    await world.handle(ev.CollectionPublished(meta(), "k1", C1, "ann", "Async <reading> list", (), T0))
    await world.handle(ev.SurveyResponseSubmitted(meta(), "s1", C1, "ann"))  # would pass the cap
    assert states(world, "ann") == {
        CpdActivity.ANSWER_ACCEPTED: CreditState.COUNTED,
        CpdActivity.RESOURCE_REVIEWED: CreditState.COUNTED,
        CpdActivity.COLLECTION_PUBLISHED: CreditState.COUNTED,
        CpdActivity.REFLECTION_SURVEY: CreditState.OVER_CAP,
    }
    log = await world.cpd.log(who("ann"), "", 0, C1, 10, "")
    assert log.cpd_year == 2025  # 5 January: the year that started in April 2025
    assert (log.totals.counted_minutes, log.totals.counted_credits, log.totals.over_cap_credits) == (90, 3, 1)
    answer = next(c for c in log.items if c.activity is CpdActivity.ANSWER_ACCEPTED)
    assert answer.id == "acc-1:cpd_answer_accepted"
    assert answer.evidence_url == f"{EVIDENCE_BASE}/communities/{C1}/questions/qa1#answer-a1"
    assert answer.description == "Answer accepted: How do I profile asyncio?"
    recorded = [rep_events.CpdCreditRecorded.FromString(e.data) for e in world.cpd_store.events]
    assert sorted((r.activity, r.minutes) for r in recorded) == [
        ("answer_accepted", 30),
        ("collection_published", 45),
        ("resource_reviewed", 15),
    ]


async def test_own_answers_own_items_and_communities_without_rules_earn_no_credit() -> None:
    world = await cpd_world()
    await world.handle(ev.AnswerAccepted(meta(), "a1", "q1", C1, "cat", "cat", "T", ()))
    await world.handle(ev.ItemRated(meta(), "r1", "resource", C1, "ann", "ann", 5, 5.0, 1, T0))
    await world.handle(ev.SurveyResponseSubmitted(meta(), "s1", "c-other", "ann"))
    await world.handle(
        ev.SurveyResponseSubmitted(meta(time=T0 - timedelta(days=1)), "s2", C1, "ann")
    )  # before the rules
    assert world.cpd_store.credits() == []


async def test_the_caps_hold_with_deliveries_at_once() -> None:
    world = await cpd_world(year_cap=50)
    await asyncio.gather(world.handle(accepted("x", "ann")), world.handle(accepted("y", "ann")))
    totals = (await world.cpd.log(who("ann"), "", 0, C1, 10, "")).totals
    assert (totals.counted_minutes, totals.over_cap_credits) == (30, 1)
    await set_rules(world, year_cap=100)
    many = [accepted(f"a{i}", "bob") for i in range(8)]
    await asyncio.gather(*(world.handle(e) for e in many), *(world.handle(e) for e in many[:4]))
    totals = (await world.cpd.log(who("bob"), "", 0, C1, 10, "")).totals
    assert (totals.counted_minutes, totals.counted_credits, totals.over_cap_credits) == (90, 3, 5)


async def test_a_monthly_cap_takes_what_it_refuses_off_the_year() -> None:
    world = await cpd_world(month_cap=40)
    await asyncio.gather(world.handle(accepted("b1", "ann")), world.handle(accepted("b2", "ann")))
    await world.handle(
        ev.AnswerAccepted(meta(time=T0 + timedelta(days=31)), "b3", "q3", C1, "ann", "cat", "T", TAGS)
    )
    world.clock.advance(timedelta(days=31))
    log = await world.cpd.log(who("ann"), "", 0, C1, 10, "")
    assert (log.totals.counted_minutes, log.totals.over_cap_credits) == (60, 1)


# Reflections


async def test_credits_wait_for_the_learners_reflection_when_required() -> None:
    world = await cpd_world(reflection_required=True)
    await world.handle(accepted("a2", "bob", title="Why <b>bold</b>?"))
    (pending,) = (await world.cpd.log(who("bob"), "", 0, C1, 10, "")).items
    assert pending.state is CreditState.PENDING
    totals = (await world.cpd.log(who("bob"), "", 0, C1, 10, "")).totals
    assert (totals.counted_minutes, totals.pending_minutes) == (0, 30)
    with pytest.raises(NotFound) as missing:
        await world.cpd.reflect(who("ann"), pending.id, "x", "y")  # not hers
    assert missing.value.reason == "CPD_CREDIT_NOT_FOUND"
    with pytest.raises(InvalidArgument) as caught:
        await world.cpd.reflect(who("bob"), pending.id, "", " ")
    assert {v.field for v in caught.value.violations} == {"reflection.learned", "reflection.practice_change"}
    script = "<script>alert('cpd')</script> profiling first"
    reflected = await world.cpd.reflect(who("bob"), pending.id, script, "I measure before I tune.")
    assert reflected.state is CreditState.COUNTED
    assert reflected.reflection is not None
    assert reflected.reflection.learned == script
    with pytest.raises(FailedPrecondition) as again:
        await world.cpd.reflect(who("bob"), pending.id, script, "again")
    assert again.value.reason == "CPD_ALREADY_REFLECTED"
    assert len(world.cpd_store.events) == 1


async def test_a_counted_credit_takes_a_reflection_for_the_record_once() -> None:
    world = await cpd_world()
    await world.handle(accepted("a1", "ann"))
    (credit,) = (await world.cpd.log(who("ann"), "", 0, C1, 10, "")).items
    noted = await world.cpd.reflect(who("ann"), credit.id, "learned", "changed")
    assert noted.state is CreditState.COUNTED
    assert noted.reflection is not None
    with pytest.raises(FailedPrecondition):
        await world.cpd.reflect(who("ann"), credit.id, "learned", "changed")
    assert (await world.cpd.log(who("ann"), "", 0, C1, 10, "")).totals.counted_minutes == 30


# The log and exports


async def test_the_log_pages_oldest_first_and_is_read_by_its_learner_only() -> None:
    world = await cpd_world(year_cap=1000)
    for i in range(5):
        await world.handle(
            ev.AnswerAccepted(
                meta(time=T0 + timedelta(minutes=5 - i)), f"a{i}", f"q{i}", C1, "ann", "cat", "T", TAGS
            )
        )
    seen: list[CpdCredit] = []
    token = ""
    while True:
        page = await world.cpd.log(who("ann"), "", 0, C1, 2, token)
        seen += page.items
        token = page.next_token
        if not token:
            break
    assert [c.target_id for c in seen] == ["a4", "a3", "a2", "a1", "a0"]
    for caller in ("bob", "olivia"):
        with pytest.raises(PermissionDenied):
            await world.cpd.log(who(caller), "ann", 0, C1, 10, "")
    with pytest.raises(InvalidArgument):
        await world.cpd.log(who("ann"), "", 1999, C1, 10, "")
    assert (await world.cpd.log(who("ann"), "", 2024, C1, 10, "")).items == []


async def test_exports_parse_escape_and_are_bounded() -> None:
    world = await cpd_world(reflection_required=True)
    await world.handle(accepted("a2", "bob", title="Why <b>bold</b>?"))
    (credit,) = (await world.cpd.log(who("bob"), "", 0, C1, 10, "")).items
    script = "<script>alert('cpd')</script>"
    await world.cpd.reflect(who("bob"), credit.id, script, "I measure before I tune.")
    exported = await world.cpd.export(who("bob"), 0, C1, "csv")
    assert exported.content_type == "text/csv; charset=utf-8"
    assert exported.filename == "cpd-bob-2025.csv"
    (row,) = csv.DictReader(io.StringIO(exported.content.decode("utf-8")))
    assert (row["activity"], row["minutes"], row["status"]) == ("Answer accepted", "30", "counted")
    assert script in row["reflection"]
    statement = await world.cpd.export(
        who(
            "bob",
        ),
        0,
        C1,
        "html",
    )
    html = statement.content.decode("utf-8")
    assert "<script" not in html
    assert "Why &lt;b&gt;bold&lt;/b&gt;?" in html
    assert statement.totals.counted_minutes == 30
    with pytest.raises(InvalidArgument) as caught:
        await world.cpd.export(who("bob"), 0, C1, "pdf")
    assert {v.field for v in caught.value.violations} == {"format"}


async def test_an_export_larger_than_the_limit_is_refused() -> None:
    world = World(cpd_export_max=1)
    await world.join("olivia", C1, "owner")
    await set_rules(world)
    for answer in ("a1", "a2"):
        await world.handle(accepted(answer, "ann"))
    with pytest.raises(FailedPrecondition) as refused:
        await world.cpd.export(who("ann"), 0, C1, "csv")
    assert refused.value.reason == "CPD_EXPORT_TOO_LARGE"


async def test_statements_show_dates_in_the_communitys_time_zone() -> None:
    world = await cpd_world()
    await world.handle(accepted("a1", "bob"))
    await set_rules(world, zone="Europe/London")
    statement = await world.cpd.export(who("bob"), 0, C1, "html")
    assert "Dates are in the Europe/London time zone." in statement.content.decode("utf-8")
    (row,) = csv.DictReader(io.StringIO((await world.cpd.export(who("bob"), 0, C1, "csv")).content.decode()))
    assert row["time_zone"] == "Europe/London"


# Sharing


async def test_owners_see_the_totals_of_those_who_share_them() -> None:
    world = await cpd_world()
    await world.handle(accepted("a1", "ann"))
    await world.handle(accepted("a2", "bob"))
    with pytest.raises(PermissionDenied):
        await world.cpd.member_totals(who("bob"), C1, 0, 10, "")
    view = await world.cpd.member_totals(who("olivia"), C1, 0, 10, "")
    assert (view.items, view.not_shared) == ([], 2)
    for member in ("ann", "bob"):
        await world.cpd.share(who(member), C1, True)
    await world.cpd.share(who("bob"), C1, False)
    view = await world.cpd.member_totals(who("olivia"), C1, 0, 10, "")
    assert [(t.member_id, t.counted_minutes, t.counted_credits) for t in view.items] == [("ann", 30, 1)]
    assert view.not_shared == 1
    await world.cpd.share(who("bob"), C1, True)
    first = await world.cpd.member_totals(who("olivia"), C1, 0, 1, "")
    second = await world.cpd.member_totals(who("olivia"), C1, 0, 1, first.next_token)
    assert [t.member_id for t in [*first.items, *second.items]] == ["ann", "bob"]
    assert (second.not_shared, second.next_token) == (0, "")
    with pytest.raises(InvalidArgument):
        await world.cpd.share(who("ann"), "", True)
