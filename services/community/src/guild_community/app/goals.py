"""Goal use cases: owners set a community's goals; its members see them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.ids import id_for_request, new_id
from guild_common.pagination import Page, clamp_page_size
from guild_community.app.ports import (
    CommunityRepository,
    GoalMeasurer,
    GoalRepository,
    PilotComparer,
    PilotControlRepository,
)
from guild_community.app.visibility import authorize_visible, existing_community
from guild_community.domain.authorization import Action
from guild_community.domain.communities import Community
from guild_community.domain.goals import (
    Goal,
    GoalMetric,
    GoalProgress,
    GoalSet,
    goal_status,
    measured_until,
)
from guild_community.domain.pilot import PilotComparison

# The window a goal report compares a pilot with its control over (as goals are measured).
COMPARED_SPAN = timedelta(days=30)


@dataclass(frozen=True)
class GoalReportPage(Page[GoalProgress]):
    # The pilot beside its control over the goals' window, when a control is set and measured.
    comparison: PilotComparison | None = None


@dataclass(frozen=True)
class NewGoal:
    community_id: str
    metric: GoalMetric | None
    target: float
    deadline: datetime | None
    request_id: str


class GoalUseCases:
    def __init__(
        self,
        goals: GoalRepository,
        communities: CommunityRepository,
        measurer: GoalMeasurer,
        *,
        controls: PilotControlRepository | None = None,
        comparer: PilotComparer | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._controls = controls
        self._comparer = comparer
        self._goals = goals
        self._communities = communities
        self._measurer = measurer
        self._clock = clock

    async def create(self, caller: Principal, new: NewGoal) -> Goal:
        community = await self._community(new.community_id)
        await self._authorize(caller, community, Action.MANAGE_GOALS)
        community.check_writable()
        goal_id = (
            id_for_request("goal", f"{community.id}:{caller.subject}", new.request_id)
            if new.request_id
            else new_id()
        )
        goal = Goal.set(
            id=goal_id,
            community_id=community.id,
            metric=new.metric,
            target=new.target,
            deadline=new.deadline,
            lifecycle=community.lifecycle,
            created_by=caller.subject,
            now=self._clock(),
        )
        return await self._goals.add_goal(goal, GoalSet(goal, community.region, community.programme))

    async def list(self, caller: Principal, community_id: str, page_size: int, page_token: str) -> Page[Goal]:
        size = clamp_page_size(page_size, default=50, maximum=200)
        community = await self._community(community_id)
        await self._authorize(caller, community, Action.VIEW_GOALS)
        return await self._goals.list_goals(community.id, size, page_token)

    async def report(
        self, caller: Principal, community_id: str, page_size: int, page_token: str
    ) -> GoalReportPage:
        """Each goal of a page with its current value and status, measured concurrently."""
        size = clamp_page_size(page_size, default=20, maximum=50)
        community = await self._community(community_id)
        await self._authorize(caller, community, Action.VIEW_GOALS)
        page = await self._goals.list_goals(community.id, size, page_token)
        now = self._clock()
        measurements, comparison = await asyncio.gather(
            asyncio.gather(
                *(self._measurer.measure(community.id, g.metric, measured_until(g, now)) for g in page.items)
            ),
            self._comparison(community.id, now),
        )
        return GoalReportPage(
            [
                GoalProgress(g, m, goal_status(g, m, now))
                for g, m in zip(page.items, measurements, strict=True)
            ],
            page.next_token,
            comparison,
        )

    async def _comparison(self, community_id: str, now: datetime) -> PilotComparison | None:
        """The pilot beside its control over the 30 days before now, if a control is set."""
        if self._controls is None or self._comparer is None:
            return None
        control = await self._controls.get_control(community_id)
        if control is None or not control.is_set:
            return None
        return await self._comparer.compare(community_id, now - COMPARED_SPAN, now)

    async def _community(self, community_id: str) -> Community:
        return await existing_community(self._communities, community_id)

    async def _authorize(self, caller: Principal, community: Community, action: Action) -> None:
        await authorize_visible(self._communities, caller, community, action)
