"""Pilot comparisons: the control learnt from community events, the figures served to the pilot's readers."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import FailedPrecondition, Validator
from guild_reputation.app.access import CommunityReaders
from guild_reputation.app.ports import PilotStore
from guild_reputation.app.visibility import Visibility
from guild_reputation.domain.insights import MONTH
from guild_reputation.domain.pilot import (
    MAX_PERIOD_DAYS,
    GroupSample,
    PilotComparison,
    compare_groups,
)


class PilotComparisons:
    """The pilot to its members and services (as its insights); a control community must be visible to the
    caller (a hidden one is NOT_FOUND to non-members). A control list of people counts their activity in
    every community but the pilot and the hidden ones (as every cross-community aggregate does)."""

    def __init__(self, store: PilotStore, readers: CommunityReaders, visibility: Visibility) -> None:
        self._store = store
        self._readers = readers
        self._visibility = visibility

    async def compare(
        self, caller: Principal, community_id: str, start: datetime | None, end: datetime | None
    ) -> PilotComparison:
        end = end or utc_now()
        start = start or end - MONTH
        check = Validator()
        check.require(bool(community_id), "community_id", "must not be empty")
        check.require(start < end, "start_time", "must be before end_time")
        check.require(
            end - start <= timedelta(days=MAX_PERIOD_DAYS),
            "end_time",
            f"at most {MAX_PERIOD_DAYS} days after start_time",
        )
        check.check()
        await self._readers.check(caller, community_id)
        control = await self._store.control(community_id)
        if control is None or not control.is_set:
            raise FailedPrecondition(
                f"no control group is set for community {community_id}",
                reason="NO_PILOT_CONTROL",
                metadata={"community_id": community_id},
            )
        pilot = await self._community_sample(community_id, start, end)
        if control.control_community_id:
            await self._visibility.require(caller, control.control_community_id)
            sample = await self._community_sample(control.control_community_id, start, end)
        else:
            exclude = await self._visibility.hidden() | {community_id}
            ids = control.control_member_ids
            s = self._store
            sample = GroupSample(
                members=len(ids),
                active=len(await s.active_among(ids, start, end, exclude)),
                answer_seconds=await s.answer_seconds_by(ids, start, end, exclude),
            )
        # The bootstrap is CPU work: off the event loop.
        metrics = await asyncio.to_thread(compare_groups, pilot, sample)
        return PilotComparison(
            community_id=community_id,
            control_community_id=control.control_community_id,
            control_member_count=len(control.control_member_ids),
            start=start,
            end=end,
            metrics=metrics,
        )

    async def _community_sample(self, community_id: str, start: datetime, end: datetime) -> GroupSample:
        """Members at the end of the period, those of them active in it, and its questions."""
        s = self._store
        members = await s.members_at(community_id, end)
        active = await s.active_in(community_id, start, end)
        return GroupSample(
            members=len(members),
            active=len(active & members),
            answer_seconds=await s.answer_seconds(community_id, start, end),
        )
