"""Owners' badge definitions on in-memory ports: defined by owners only, counted from events once per
natural key and period, rolling windows, archiving, who reads them, and exporting awards."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from services.reputation.tests.app_world import C1, SERVICE, World, meta, who
from services.reputation.tests.memory import T0

from guild_common.errors import InvalidArgument, NotFound, PermissionDenied
from guild_reputation.domain import integration_events as ev
from guild_reputation.domain.badges import Award, Tier
from guild_reputation.domain.credential_signing import load_signing_key
from guild_reputation.domain.custom_badges import BadgeDefinition, TemplatePeriod


async def owned_world(world: World | None = None) -> World:
    """olivia owns ``C1``; max is a member; lea joined and left."""
    world = world or World()
    await world.join("olivia", C1, "owner")
    await world.join("max", C1)
    await world.join("lea", C1)
    await world.handle(ev.MemberLeft(meta(time=T0 + timedelta(seconds=1)), C1, "lea"))
    return world


async def define(
    world: World,
    request_id: str,
    event_type: str,
    threshold: int,
    *,
    period: TemplatePeriod = TemplatePeriod.ALL_TIME,
    rolling_days: int = 0,
    tag: str = "",
    repeatable: bool = False,
    title: str = "",
    caller: str = "olivia",
    community: str = C1,
) -> BadgeDefinition:
    return await world.custom_badges.create(
        who(caller),
        community_id=community,
        title=title or f"Badge {request_id}",
        description="",
        tier=Tier.SILVER,
        event_type=event_type,
        threshold=threshold,
        period=period,
        rolling_days=rolling_days,
        tag=tag,
        repeatable=repeatable,
        request_id=request_id,
    )


def custom(world: World, member: str) -> list[Award]:
    return [a for a in world.badges.awards_of(member) if a.badge == "custom"]


def question(qid: str, author: str = "cat", tags: tuple[str, ...] = (), *, days: int = 0) -> ev.QuestionAsked:
    return ev.QuestionAsked(meta(time=T0 - timedelta(days=days)), qid, C1, author, tags)


# Defining


async def test_owners_define_badges_and_a_repeated_request_returns_the_same_one() -> None:
    world = await owned_world()
    created = await define(world, "r1", "answer_accepted", 2, tag="Python", title=" Python helper ")
    assert (created.title, created.template.tag, created.template.period) == (
        "Python helper",
        "python",
        TemplatePeriod.ALL_TIME,
    )
    again = await define(world, "r1", "answer_accepted", 2, tag="Python", title="Python helper")
    assert again == created
    other = await define(world, "r2", "answer_accepted", 2)
    assert other.id != created.id
    with pytest.raises(PermissionDenied) as denied:
        await define(world, "r3", "question_asked", 1, caller="max")
    assert denied.value.metadata["required_role"] == "owner"


async def test_bad_templates_name_each_field() -> None:
    world = await owned_world()
    with pytest.raises(InvalidArgument) as caught:
        await world.custom_badges.create(
            who("olivia"),
            community_id=C1,
            title="",
            description="",
            tier=Tier.BRONZE,
            event_type="collection_published",
            threshold=0,
            period=TemplatePeriod.WEEK,
            rolling_days=5,
            tag="x",
            repeatable=False,
            request_id="r3",
        )
    assert {v.field for v in caught.value.violations} == {
        "title",
        "template.threshold",
        "template.rolling_days",
        "template.tag",
    }
    with pytest.raises(InvalidArgument) as caught:
        await define(world, "r4", "made_up", 1)
    assert "template.event_type" in {v.field for v in caught.value.violations}


async def test_nobody_defines_or_reads_badges_of_a_community_never_heard_of() -> None:
    world = await owned_world()
    with pytest.raises(NotFound):
        await define(world, "r1", "question_asked", 1, community="c-none")
    with pytest.raises(NotFound):
        await world.custom_badges.page(SERVICE, "c-none", False, 10, "")


# Counting and awarding


async def test_a_weekly_repeatable_badge_is_awarded_once_a_week() -> None:
    world = await owned_world()
    weekly = await define(world, "r2", "question_asked", 2, period=TemplatePeriod.WEEK, repeatable=True)
    for qid in ("qa", "qb"):
        await world.handle(question(qid, days=14))
    first = question("q1")
    await world.handle(first)
    await world.handle(first)  # redelivered: counts once
    assert len(custom(world, "cat")) == 1
    await world.handle(question("q2"))
    await world.handle(question("q3"))  # a third this week: no third award
    awards = custom(world, "cat")
    assert len(awards) == 2
    assert {a.definition_id for a in awards} == {weekly.id}
    assert {(a.custom_title, a.tier) for a in awards} == {(weekly.title, Tier.SILVER)}


async def test_a_tagged_definition_counts_only_posts_with_the_tag_each_once() -> None:
    world = await owned_world()
    helper = await define(world, "r1", "answer_accepted", 2, tag="Python")
    await world.handle(question("q1", tags=("Python",)))
    await world.handle(question("q2"))
    for aid, qid in (("a1", "q1"), ("a2", "q1"), ("b1", "q2")):
        await world.handle(ev.AnswerPosted(meta(), aid, qid, C1, "ann", "cat", ()))
    first = ev.AnswerAccepted(meta(), "a1", "q1", C1, "ann", "cat", "T", ())
    await world.handle(first)
    await world.handle(first)
    await world.handle(ev.AnswerAccepted(meta(), "b1", "q2", C1, "ann", "cat", "T", ()))  # untagged
    assert custom(world, "ann") == []
    accepted_again = ev.AnswerAccepted(meta(), "a1", "q1", C1, "ann", "cat", "T", ())
    await world.handle(accepted_again)  # the same answer accepted anew: counted once
    assert custom(world, "ann") == []
    await world.handle(ev.AnswerAccepted(meta("earned"), "a2", "q1", C1, "ann", "cat", "T", ()))
    [award] = custom(world, "ann")
    assert (award.definition_id, award.source_event_id) == (helper.id, "earned")
    assert award.criteria == "At least 2 accepted answers about posts tagged python, in the community."


async def test_upvotes_count_once_per_voter_and_post() -> None:
    world = await owned_world()
    await define(world, "r1", "upvote_received", 3)
    await world.ask("q1", "ann")
    for voter, previous, value in (("v1", 0, 1), ("v1", 1, 0), ("v1", 0, 1), ("v2", 0, 1), ("bob", 0, 1)):
        await world.vote(voter, previous, value)
    assert custom(world, "bob") == []  # v1 twice counts once, bob's own vote not at all
    await world.vote("v3", 0, 1)
    assert len(custom(world, "bob")) == 1


async def test_rolling_windows_tags_of_commented_posts_and_collection_follows() -> None:
    world = await owned_world()
    await define(
        world,
        "c1",
        "comment_posted",
        2,
        period=TemplatePeriod.ROLLING_DAYS,
        rolling_days=3,
        tag="go",
        title="Go commenter",
    )
    followed = await define(world, "c2", "collection_followed", 2)
    await world.handle(question("qg", tags=("Go",), days=6))
    await world.handle(question("qx", days=6))
    await world.handle(ev.AnswerPosted(meta(time=T0 - timedelta(days=6)), "ag", "qg", C1, "ann", "cat", ()))

    def comment(cid: str, post: str, q: str, days: int = 0) -> ev.CommentPosted:
        return ev.CommentPosted(meta(time=T0 - timedelta(days=days)), cid, post, q, C1, "ann")

    # Five days ago and now: not within three days. On an untagged question: does not count.
    await world.handle(comment("m1", "qg", "qg", 5))
    await world.handle(comment("m2", "qg", "qg"))
    await world.handle(comment("m3", "qx", "qx"))
    for follower in ("bob", "bob", "cur"):
        await world.handle(ev.CollectionFollowed(meta(), "k1", C1, "cur", follower))
    assert custom(world, "ann") == []
    await world.handle(
        ev.CommentPosted(meta("earned"), "m4", "ag", "qg", C1, "ann")
    )  # the answer's question's tags
    [award] = custom(world, "ann")
    assert (award.custom_title, award.source_event_id) == ("Go commenter", "earned")
    assert custom(world, "cur") == []
    await world.handle(ev.CollectionFollowed(meta(), "k1", C1, "cur", "dan"))
    assert [a.definition_id for a in custom(world, "cur")] == [followed.id]


async def test_a_repeatable_rolling_window_counts_each_event_towards_one_award() -> None:
    world = await owned_world()
    await define(
        world, "r1", "question_asked", 3, period=TemplatePeriod.ROLLING_DAYS, rolling_days=7, repeatable=True
    )
    first = T0 + timedelta(hours=1)

    async def ask(qid: str, at: datetime) -> str:
        m = meta(time=at)
        await world.handle(ev.QuestionAsked(m, qid, C1, "cat", ()))
        return m.id

    earned = [await ask(f"q{i}", first + timedelta(minutes=i)) for i in range(3)]
    assert [a.source_event_id for a in custom(world, "cat")] == [earned[2]]
    await ask("q3", first + timedelta(days=1))  # within the window, counted towards the award given
    await ask("q4", first + timedelta(days=2))
    assert len(custom(world, "cat")) == 1
    again = await ask("q5", first + timedelta(days=3))  # three since the award
    assert sorted(a.source_event_id for a in custom(world, "cat")) == sorted([earned[2], again])


async def test_archived_definitions_award_nothing_more_and_are_listed_only_when_asked() -> None:
    world = await owned_world()
    weekly = await define(world, "r2", "question_asked", 1, period=TemplatePeriod.WEEK, repeatable=True)
    helper = await define(world, "r1", "answer_posted", 5)
    with pytest.raises(PermissionDenied):
        await world.custom_badges.archive(who("max"), weekly.id)
    with pytest.raises(NotFound) as missing:
        await world.custom_badges.archive(who("olivia"), "bd_unknown")
    assert missing.value.reason == "BADGE_DEFINITION_NOT_FOUND"
    with pytest.raises(InvalidArgument):
        await world.custom_badges.archive(who("olivia"), "")
    archived = await world.custom_badges.archive(who("olivia"), weekly.id)
    assert archived.archived
    assert archived.archive_time is not None
    assert await world.custom_badges.archive(who("olivia"), weekly.id) == archived  # once
    await world.handle(question("q1"))
    assert custom(world, "cat") == []
    listed = await world.custom_badges.page(who("max"), C1, False, 10, "")
    assert [d.id for d in listed.items] == [helper.id]
    first = await world.custom_badges.page(who("max"), C1, True, 1, "")
    rest = await world.custom_badges.page(who("max"), C1, True, 1, first.next_token)
    assert [d.id for d in [*first.items, *rest.items]] == [helper.id, weekly.id]
    assert rest.next_token == ""


async def test_members_and_services_read_definitions_former_members_and_strangers_do_not() -> None:
    world = await owned_world()
    await define(world, "r1", "question_asked", 1)
    assert (await world.custom_badges.page(SERVICE, C1, False, 10, "")).items
    assert (await world.custom_badges.page(who("max"), C1, False, 10, "")).items
    for caller in ("lea", "stranger"):
        with pytest.raises(PermissionDenied):
            await world.custom_badges.page(who(caller), C1, False, 10, "")
    with pytest.raises(InvalidArgument):
        await world.custom_badges.page(who("max"), "", False, 10, "")


# Exporting


def signing_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def test_holders_owners_and_services_export_an_award_signed_others_may_not() -> None:
    world = await owned_world(World(signing_key=load_signing_key(signing_pem())))
    await define(world, "r1", "question_asked", 1, title="Asker")
    await world.join("ann", C1)
    await world.handle(question("q1", "ann"))
    [award] = custom(world, "ann")
    exported, signed = await world.custom_badges.export(who("ann"), award.id)
    credential: dict[str, Any] = json.loads(exported)
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["issuer"]["name"] == "Example Corp"
    assert credential["name"] == "Asker"
    assert credential["credentialSubject"]["identifier"][0]["identityHash"] == "ann"
    assert datetime.fromisoformat(credential["validFrom"].replace("Z", "+00:00")) == award.time.astimezone(
        UTC
    )
    profile, jwks = world.custom_badges.issuer()
    assert json.loads(profile)["id"] == "https://skills.example.com"
    keys = jwt.PyJWKSet.from_json(jwks)
    header = jwt.get_unverified_header(signed)
    key = next(k for k in keys.keys if k.key_id == header["kid"])
    claims = jwt.decode(signed, key.key, algorithms=[header["alg"]], issuer="https://skills.example.com")
    assert claims["jti"] == credential["id"]
    for caller in (who("olivia"), SERVICE):
        assert json.loads((await world.custom_badges.export(caller, award.id))[0])["id"] == credential["id"]
    with pytest.raises(PermissionDenied):
        await world.custom_badges.export(who("max"), award.id)
    with pytest.raises(NotFound) as missing:
        await world.custom_badges.export(who("ann"), "nope")
    assert missing.value.reason == "AWARD_NOT_FOUND"
    built_in = f"{C1}:ann:first_question:bronze"
    achievement = json.loads((await world.custom_badges.export(who("ann"), built_in))[0])
    assert achievement["credentialSubject"]["achievement"]["name"] == "First question"


async def test_without_a_key_an_export_is_not_signed() -> None:
    world = await owned_world()
    await world.handle(question("q1", "ann"))
    exported, signed = await world.custom_badges.export(who("ann"), f"{C1}:ann:first_question:bronze")
    assert json.loads(exported)["credentialSubject"]["identifier"][0]["identityHash"] == "ann"
    assert signed == ""
    assert json.loads(world.custom_badges.issuer()[1]) == {"keys": []}


async def test_an_award_in_a_hidden_community_is_not_found_to_outsiders() -> None:
    world = World()
    await world.create_community(C1, "hidden")
    await owned_world(world)
    await world.handle(question("q1", "ann"))
    award_id = f"{C1}:ann:first_question:bronze"
    with pytest.raises(NotFound):
        await world.custom_badges.export(who("stranger"), award_id)
    assert (await world.custom_badges.export(who("ann"), award_id))[0]
