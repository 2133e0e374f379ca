"""Commands: community owners set their points rules."""

from __future__ import annotations

from collections.abc import Sequence

from guild_common.auth import Principal
from guild_common.errors import PermissionDenied, Validator
from guild_reputation.app.ports import PointsRules, RoleDirectory
from guild_reputation.app.visibility import Visibility
from guild_reputation.domain.rules import PointsTable, Rule, RuleSetting, validate_overrides

OWNER = "owner"


class PointsRulesUseCases:
    def __init__(
        self, rules: PointsRules, roles: RoleDirectory, points: PointsTable, visibility: Visibility
    ) -> None:
        self._rules = rules
        self._roles = roles
        self._points = points
        self._visibility = visibility

    async def effective(self, caller: Principal, community_id: str) -> dict[Rule, RuleSetting]:
        """The rules in force in a community the caller may see."""
        check = Validator()
        check.require(bool(community_id), "community_id", "must not be empty")
        check.check()
        await self._visibility.require_unhidden(caller, community_id)
        return await self._in_force(community_id)

    async def _in_force(self, community_id: str) -> dict[Rule, RuleSetting]:
        return self._points.effective(await self._rules.overrides(community_id))

    async def set_rules(
        self, caller: Principal, community_id: str, rules: Sequence[tuple[str, int, int]]
    ) -> dict[Rule, RuleSetting]:
        check = Validator()
        check.require(bool(community_id), "community_id", "must not be empty")
        check.check()
        overrides = validate_overrides(rules)
        if await self._roles.role(community_id, caller.subject) != OWNER:
            raise PermissionDenied(
                "only the community's owners set its points rules",
                reason="NOT_COMMUNITY_OWNER",
                metadata={"required_role": OWNER, "community_id": community_id},
            )
        await self._rules.set_overrides(community_id, overrides, caller.subject)
        return await self._in_force(community_id)
