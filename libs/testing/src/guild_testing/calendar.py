"""Keeping a scenario on the real clock inside one UTC day, ISO week and month.

The services count by day (daily point caps), ISO week (weekly boards, insights, digests) and month. A
scenario that runs on the wall clock and crosses midnight would see its activity split between two
periods, and its figures would depend on the minute it ran. In the UTC zone the suite runs in (the
default of `leaderboard_timezone`), every one of those periods turns at a midnight, so waiting out a
midnight that is about to come keeps the whole scenario in one of each.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

DEFAULT_MARGIN = timedelta(minutes=5)


def wait_before_scenario(now: datetime, margin: timedelta = DEFAULT_MARGIN) -> timedelta:
    """How long to wait at ``now`` so that the next ``margin`` holds no UTC midnight."""
    moment = now.astimezone(UTC)
    midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), UTC)
    left = midnight - moment
    if left > margin:
        return timedelta(0)
    return left + timedelta(seconds=1)


async def clear_of_midnight(margin: timedelta = DEFAULT_MARGIN) -> None:
    """Wait past the next UTC midnight when it is less than ``margin`` away.

    Call it before a scenario on the real clock that takes less than ``margin`` and asserts figures
    for the current day, week or month; it waits at most ``margin``, and only in the minutes before
    midnight.
    """
    wait = wait_before_scenario(datetime.now(UTC), margin)
    if wait:
        await asyncio.sleep(wait.total_seconds())
