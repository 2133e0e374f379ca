"""What a day of commands publishes, in order, as the CloudEvents the stores would queue: each event the
in-memory stores record is made into its envelope by the adapters' own functions."""

from __future__ import annotations

from datetime import timedelta

from guild_common.events.envelope import Envelope
from guild_community.adapters.outbound_events import (
    goal_envelope,
    people_envelope,
    pilot_control_envelope,
    survey_envelope,
    to_envelope,
)
from guild_community.app.goals import NewGoal
from guild_community.app.surveys import NewSurvey
from guild_community.domain.authorization import ENROL_SCOPE
from guild_community.domain.communities import CommunityPatch, Lifecycle, Visibility
from guild_community.domain.goals import GoalMetric
from guild_community.domain.membership import Role
from guild_community.domain.people import ProfilePatch
from guild_community.domain.surveys import Answer, QuestionType

from .memory import MemoryCommunityService, new_community, person, service_caller

OWNER = person("olivia")


def _published(svc: MemoryCommunityService) -> dict[str, list[Envelope]]:
    return {
        "community": [to_envelope(e) for e in svc.repository.events],
        "people": [people_envelope(e) for e in svc.people_store.events],
        "surveys": [survey_envelope(e) for e in svc.survey_store.events],
        "goals": [goal_envelope(e) for e in svc.goal_store.events],
        "controls": [pilot_control_envelope(e.control, e.region, e.programme) for e in svc.controls.events],
    }


def _names(envelopes: list[Envelope]) -> list[str]:
    return [e.type.removeprefix("guild.community.").removesuffix(".v1") for e in envelopes]


async def test_each_command_publishes_its_events_in_order(svc: MemoryCommunityService) -> None:
    community = await new_community(
        svc,
        OWNER,
        "sales",
        visibility=Visibility.REQUEST_TO_JOIN,
        region="emea",
    )
    await svc.membership.enrol_cohort(service_caller("hr", ENROL_SCOPE), community.id, ["ann", "bob"])
    await svc.membership.request_to_join(person("cy"), community.id)
    await svc.membership.invite(OWNER, community.id, "dee")
    await svc.membership.grant_role(OWNER, community.id, "ann", Role.MODERATOR)
    await svc.membership.revoke_role(OWNER, community.id, "ann", Role.MODERATOR)
    await svc.membership.remove(OWNER, community.id, "bob", ban=True)
    await svc.communities.update_community(OWNER, community.id, CommunityPatch(description="the community"))
    await svc.people.update_profile(person("ann"), "", ProfilePatch(display_name="Ann"))
    await svc.people.follow(person("bob"), "ann")
    await svc.people.unfollow(person("bob"), "ann")
    survey = await svc.surveys.create(
        OWNER, NewSurvey(community.id, "Pulse", [("How?", QuestionType.RATING, [])], "")
    )
    await svc.surveys.open(OWNER, survey.id)
    await svc.surveys.submit(person("ann"), survey.id, [Answer("q1", score=4)])
    await svc.surveys.submit(person("ann"), survey.id, [Answer("q1", score=5)])
    await svc.surveys.close(OWNER, survey.id)
    deadline = svc.clock.now + timedelta(days=30)
    await svc.goals.create(OWNER, NewGoal(community.id, GoalMetric.CONTRIBUTORS_PCT, 40, deadline, ""))
    await svc.pilots.set(OWNER, community.id, "", ["c1", "c2", "c3", "c4", "c5"])
    await svc.communities.change_lifecycle(OWNER, community.id, Lifecycle.ARCHIVED)

    published = _published(svc)
    assert _names(published["community"]) == [
        "community_created",
        "member_joined",  # the owner
        "member_joined",
        "member_joined",
        "join_requested",
        "member_invited",
        "role_granted",
        "role_revoked",
        "member_left",
        "community_updated",
        "lifecycle_changed",
    ]
    assert _names(published["people"]) == ["profile_updated", "followed", "unfollowed"]
    assert _names(published["surveys"]) == [
        "survey_opened",
        "survey_response_submitted",
        "survey_response_submitted",
        "survey_closed",
    ]
    assert _names(published["goals"]) == ["goal_set"]
    assert _names(published["controls"]) == ["pilot_control_set"]
    # A community's events go on its region and programme's subjects; a person's on the global ones.
    assert {(e.region, e.programme) for e in published["community"]} == {("emea", "sales")}
    assert {(e.region, e.programme) for e in published["people"]} == {("global", "global")}
    assert {e.subject for e in published["community"][2:4]} == {f"{community.id}:ann", f"{community.id}:bob"}


async def test_refused_commands_publish_nothing(svc: MemoryCommunityService) -> None:
    community = await new_community(svc, OWNER, "quiet-one")
    published = {store: _names(envelopes) for store, envelopes in _published(svc).items()}
    for attempt in (
        svc.membership.leave(OWNER, community.id),  # the last owner
        svc.membership.grant_role(person("mallory"), community.id, "olivia", Role.MEMBER),
        svc.communities.change_lifecycle(OWNER, community.id, Lifecycle.DRAFT),
        svc.membership.request_to_join(person("ann"), community.id),  # open: join instead
        svc.people.follow(person("ann"), "ann"),
    ):
        try:
            await attempt
        except Exception:
            pass
        else:
            raise AssertionError("the command was not refused")
    assert {store: _names(envelopes) for store, envelopes in _published(svc).items()} == published
