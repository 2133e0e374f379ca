"""Who may do what in a community: one table of role x action, and the check that uses it.

The same table is in docs/authorization.md; a test keeps the two equal, and a service test
checks every row over gRPC.
"""

from __future__ import annotations

from enum import StrEnum

from guild_common.errors import PermissionDenied
from guild_community.domain.membership import Role


class Action(StrEnum):
    UPDATE_COMMUNITY = "update_community"
    CHANGE_LIFECYCLE = "change_lifecycle"
    ENROL_COHORT = "enrol_cohort"
    GRANT_ROLE = "grant_role"
    REVOKE_ROLE = "revoke_role"
    INVITE_MEMBER = "invite_member"
    REVIEW_JOIN_REQUESTS = "review_join_requests"
    REMOVE_MEMBER = "remove_member"
    BAN_MEMBER = "ban_member"
    REMOVE_STAFF = "remove_staff"
    LEAVE_COMMUNITY = "leave_community"
    MANAGE_SURVEYS = "manage_surveys"
    VIEW_SURVEY_RESULTS = "view_survey_results"
    ANSWER_SURVEYS = "answer_surveys"
    MANAGE_GOALS = "manage_goals"
    VIEW_GOALS = "view_goals"


#: The token scope that lets a caller enrol people without their acceptance (EnrolCohort): an HR system's
#: service token, or an owner the identity provider grants it.
ENROL_SCOPE = "guild.enrol"

# Ranks order the roles for naming the least role an action needs.
RANK: dict[Role, int] = {
    Role.MEMBER: 0,
    Role.CHAMPION: 1,
    Role.CURATOR: 2,
    Role.MODERATOR: 3,
    Role.OWNER: 4,
}

_STAFF = frozenset({Role.MODERATOR, Role.OWNER})
_OWNERS = frozenset({Role.OWNER})
_EVERYONE = frozenset(Role)

# action -> roles allowed to perform it. Non-members hold no role and may do none of these.
TABLE: dict[Action, frozenset[Role]] = {
    Action.UPDATE_COMMUNITY: _OWNERS,
    Action.CHANGE_LIFECYCLE: _OWNERS,
    Action.ENROL_COHORT: _OWNERS,
    Action.GRANT_ROLE: _OWNERS,
    Action.REVOKE_ROLE: _OWNERS,
    Action.INVITE_MEMBER: _STAFF,
    Action.REVIEW_JOIN_REQUESTS: _STAFF,
    Action.REMOVE_MEMBER: _STAFF,
    Action.BAN_MEMBER: _STAFF,
    # Removing or banning a moderator or an owner.
    Action.REMOVE_STAFF: _OWNERS,
    Action.LEAVE_COMMUNITY: _EVERYONE,
    Action.MANAGE_SURVEYS: _OWNERS,
    Action.VIEW_SURVEY_RESULTS: _STAFF,
    Action.ANSWER_SURVEYS: _EVERYONE,
    Action.MANAGE_GOALS: _OWNERS,
    Action.VIEW_GOALS: _EVERYONE,
}

DESCRIPTIONS: dict[Action, str] = {
    Action.UPDATE_COMMUNITY: "change name, description, visibility, settings (UpdateCommunity)",
    Action.CHANGE_LIFECYCLE: "move draft/pilot/live/archived (ChangeLifecycle)",
    Action.ENROL_COHORT: "enrol people without asking them (EnrolCohort; with the guild.enrol scope)",
    Action.GRANT_ROLE: "give a role (GrantRole)",
    Action.REVOKE_ROLE: "take a role away (RevokeRole)",
    Action.INVITE_MEMBER: "invite someone, or many at once (InviteMember, InviteCohort)",
    Action.REVIEW_JOIN_REQUESTS: "list, approve, deny join requests",
    Action.REMOVE_MEMBER: "remove a member, champion or curator (RemoveMember)",
    Action.BAN_MEMBER: "ban a member, champion, curator or non-member (BanMember)",
    Action.REMOVE_STAFF: "remove or ban a moderator or owner",
    Action.LEAVE_COMMUNITY: "leave (LeaveCommunity); the last owner cannot",
    Action.MANAGE_SURVEYS: "create, open, close surveys",
    Action.VIEW_SURVEY_RESULTS: "survey results and free-text answers",
    Action.ANSWER_SURVEYS: "answer an open survey, see surveys (GetSurvey)",
    Action.MANAGE_GOALS: "set goals: metric, target, deadline (CreateGoal)",
    Action.VIEW_GOALS: "see the community's goals and how it does against them (ListGoals, GetGoalReport)",
}


def is_allowed(role: Role | None, action: Action) -> bool:
    return role is not None and role in TABLE[action]


def required_role(action: Action) -> Role:
    """The least role that may perform ``action``."""
    return min(TABLE[action], key=RANK.__getitem__)


def authorize(role: Role | None, action: Action) -> None:
    """Raise PermissionDenied naming the required role unless ``role`` may perform ``action``."""
    if is_allowed(role, action):
        return
    needed = required_role(action)
    allowed = ",".join(r.value for r in sorted(TABLE[action], key=RANK.__getitem__))
    raise PermissionDenied(
        f"{action.value} needs the {needed.value} role",
        reason="ROLE_REQUIRED",
        metadata={"action": action.value, "required_role": needed.value, "allowed_roles": allowed},
    )
