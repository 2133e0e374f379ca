"""Insights: read models kept from content and community events, and the figures served from them."""

from __future__ import annotations

from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import Validator
from guild_reputation.app.access import CommunityReaders
from guild_reputation.app.ports import InsightsStore
from guild_reputation.app.visibility import Visibility
from guild_reputation.domain.insights import (
    MONTH,
    TOP_CONTRIBUTORS,
    WEEK,
    GoalMetric,
    GoalValue,
    Insights,
    Scope,
    Weeks,
    pct,
)


class InsightsQueries:
    """A community's figures to its members (and services), if they may see it; a programme's or
    region's figures to any signed-in caller, leaving hidden communities out (``visibility``)."""

    def __init__(
        self, store: InsightsStore, weeks: Weeks, readers: CommunityReaders, visibility: Visibility
    ) -> None:
        self._store = store
        self._weeks = weeks
        self._readers = readers
        self._visibility = visibility

    async def _may_read(self, caller: Principal, community_id: str) -> None:
        await self._readers.check(caller, community_id)

    async def insights(
        self, caller: Principal, scope: Scope | None, scope_id: str, week: str, now: datetime | None = None
    ) -> Insights:
        now = now or utc_now()
        week = week or self._weeks.key(now)
        bounds = self._weeks.bounds(week)
        check = Validator()
        check.require(scope is not None and bool(scope_id), "scope", "one of community_id, programme, region")
        check.require(bounds is not None, "week", "an ISO week such as 2026-W48")
        check.check()
        assert scope is not None
        assert bounds is not None
        x: frozenset[str] = frozenset()
        if scope is Scope.COMMUNITY:
            await self._may_read(caller, scope_id)
        else:
            x = await self._visibility.hidden()
        start, end = bounds
        as_of = min(now, end)
        s = self._store
        members = await s.members(scope, scope_id, as_of, exclude=x)
        starters, starters_posted = await s.new_starters(scope, scope_id, as_of, exclude=x)
        return Insights(
            scope=scope,
            scope_id=scope_id,
            week=week,
            week_start=start,
            as_of=as_of,
            members=members,
            active_7_days=await s.active_members(scope, scope_id, as_of, WEEK, exclude=x),
            active_30_days=await s.active_members(scope, scope_id, as_of, MONTH, exclude=x),
            contributors=await s.contributors(scope, scope_id, start, end, exclude=x),
            posts=await s.posts(scope, scope_id, start, end, exclude=x),
            questions=await s.questions(scope, scope_id, start, end, exclude=x),
            new_starters=starters,
            new_starters_posted=starters_posted,
            top_contributors=await s.top_contributors(
                scope, scope_id, start, end, TOP_CONTRIBUTORS, exclude=x
            ),
        )

    async def goal_progress(
        self,
        caller: Principal,
        community_id: str,
        metric: GoalMetric | None,
        since: datetime | None,
        until: datetime | None,
    ) -> GoalValue:
        until = until or utc_now()
        since = since or until - MONTH
        check = Validator()
        check.require(bool(community_id), "community_id", "must not be empty")
        check.require(metric is not None, "metric", "must be set")
        check.require(since < until, "since", "must be before until")
        check.check()
        assert metric is not None
        await self._may_read(caller, community_id)
        s, scope = self._store, Scope.COMMUNITY
        if metric is GoalMetric.WEEKLY_ACTIVE_MEMBERS_PCT:
            members = await s.members(scope, community_id, until)
            active = await s.active_members(scope, community_id, until, WEEK)
            return GoalValue(metric, pct(active, members), members, since, until)
        if metric is GoalMetric.CONTRIBUTORS_PCT:
            members = await s.members(scope, community_id, until)
            contributors = await s.contributors(scope, community_id, since, until)
            return GoalValue(metric, pct(contributors, members), members, since, until)
        if metric is GoalMetric.NEW_STARTERS_ASKED_WITHIN_30_DAYS_PCT:
            joined, asked = await s.starters_asking_soon(community_id, since, until, MONTH)
            return GoalValue(metric, pct(asked, joined), joined, since, until)
        questions = await s.questions(scope, community_id, since, until)
        if metric is GoalMetric.QUESTIONS_ANSWERED_WITHIN_24H_PCT:
            value = pct(questions.answered_within_24h, questions.asked)
            return GoalValue(metric, value, questions.asked, since, until)
        return GoalValue(metric, questions.median_seconds or 0.0, questions.answered, since, until)
