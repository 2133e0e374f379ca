"""What the page asks for, each one or a few gRPC reads made with the viewer's token. Authorisation is
the services' own: a community the viewer may not see is left out of lists and refused by reads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc

from guild.community.v1 import community_service_pb2 as community_api
from guild.reputation.v1 import leaderboard_pb2
from guild.reputation.v1 import reputation_service_pb2 as reputation_api
from guild_console import figures
from guild_console.backends import Backends
from guild_console.figures import Json
from guild_console.viewer import Metadata
from guild_console.weeks import recent_weeks

# Pages of communities read for the picker, at most.
MAX_COMMUNITY_PAGES = 5
LEADERBOARD_TOP = 10
PERIODS = {
    "all": leaderboard_pb2.PERIOD_ALL_TIME,
    "week": leaderboard_pb2.PERIOD_WEEK,
    "month": leaderboard_pb2.PERIOD_MONTH,
}


class Queries:
    def __init__(self, backends: Backends) -> None:
        self._b = backends

    async def communities(self, viewer: Metadata, programme: str) -> Json:
        """Those the viewer may see, with the hidden ones they belong to (listed only with ``mine``)."""
        seen, mine = await asyncio.gather(
            self._list_communities(viewer, programme, mine=False),
            self._list_communities(viewer, programme, mine=True),
        )
        by_id = {c["id"]: c for c in [*seen, *mine]}
        found = sorted(by_id.values(), key=lambda c: (c["name"].lower(), c["id"]))
        programmes = sorted({c["programme"] for c in found if c["programme"]})
        return {"communities": found, "programmes": programmes}

    async def _list_communities(self, viewer: Metadata, programme: str, *, mine: bool) -> list[Json]:
        found: list[Json] = []
        token = ""
        for _ in range(MAX_COMMUNITY_PAGES):
            page: community_api.ListCommunitiesResponse = await self._b.community.ListCommunities(
                community_api.ListCommunitiesRequest(
                    programme=programme, mine=mine, page_size=200, page_token=token
                ),
                metadata=viewer,
                timeout=self._b.timeout,
            )
            found.extend(figures.community(c) for c in page.communities)
            token = page.next_page_token
            if not token:
                break
        return found

    async def participation(self, viewer: Metadata, weeks: int, **scope: str) -> Json:
        keys = recent_weeks(datetime.now(UTC), weeks)

        async def one(week: str) -> Json:
            answer: reputation_api.GetInsightsResponse = await self._b.reputation.GetInsights(
                reputation_api.GetInsightsRequest(week=week, **scope),
                metadata=viewer,
                timeout=self._b.timeout,
            )
            return figures.week(answer.insights)

        return {"weeks": list(await asyncio.gather(*(one(k) for k in keys)))}

    async def goals(self, viewer: Metadata, community_id: str) -> Json:
        report: community_api.GetGoalReportResponse = await self._b.community.GetGoalReport(
            community_api.GetGoalReportRequest(community_id=community_id, page_size=50),
            metadata=viewer,
            timeout=self._b.timeout,
        )
        return {"goals": [figures.goal(g) for g in report.goals]}

    async def pilot(self, viewer: Metadata, community_id: str) -> Json:
        try:
            answer: reputation_api.ComparePilotResponse = await self._b.reputation.ComparePilot(
                reputation_api.ComparePilotRequest(community_id=community_id),
                metadata=viewer,
                timeout=self._b.timeout,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                return {"comparison": None}
            raise
        return {"comparison": figures.pilot(answer.comparison)}

    async def leaderboard(self, viewer: Metadata, community_id: str, period: str) -> Json:
        board: reputation_api.GetLeaderboardResponse = await self._b.reputation.GetLeaderboard(
            reputation_api.GetLeaderboardRequest(
                community_id=community_id, top=LEADERBOARD_TOP, period=PERIODS[period]
            ),
            metadata=viewer,
            timeout=self._b.timeout,
        )
        return {
            "standings": [figures.standing(s) for s in board.standings],
            "total_members": board.total_members,
        }

    async def cpd(self, viewer: Metadata, community_id: str) -> Json:
        page: reputation_api.ListCpdMemberTotalsResponse = await self._b.reputation.ListCpdMemberTotals(
            reputation_api.ListCpdMemberTotalsRequest(community_id=community_id, page_size=100),
            metadata=viewer,
            timeout=self._b.timeout,
        )
        totals = [figures.cpd_total(t) for t in page.totals]
        return {
            "cpd_year": page.cpd_year,
            "totals": totals,
            "counted_minutes": sum(t["counted_minutes"] for t in totals),
            "not_shared_members": page.not_shared_members,
        }
