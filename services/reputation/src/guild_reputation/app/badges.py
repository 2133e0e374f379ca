"""Badges: earned from content events by the built-in catalogue, or granted by owners (champion)."""

from __future__ import annotations

from datetime import datetime, timedelta

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import AlreadyExists, NotFound, PermissionDenied, Validator
from guild_common.pagination import Page, clamp_page_size
from guild_reputation.app.ports import BadgeStore, RoleDirectory
from guild_reputation.app.visibility import Visibility
from guild_reputation.domain.badges import (
    CITATION_MAX,
    THRESHOLDS,
    Award,
    Badge,
    Tier,
    tiers_reached,
    weeks_running,
)
from guild_reputation.domain.periods import Calendar
from guild_reputation.domain.rules import Rule

ANSWER_TO = "answer_to"
CONTRIBUTED_WEEK = "contributed_week"
CURATED_COLLECTION = "curated_collection"
_STREAK_LOOKBACK = max(THRESHOLDS[Badge.STREAK].values())


class BadgeRules:
    """Awards earned badges as content events arrive; each award happens once (natural key)."""

    def __init__(self, store: BadgeStore, calendar: Calendar) -> None:
        self._store = store
        self._calendar = calendar

    async def _award(
        self,
        event_id: str,
        region: str,
        programme: str,
        community_id: str,
        member_id: str,
        badge: Badge,
        tiers: list[Tier],
        time: datetime,
    ) -> None:
        for tier in tiers:
            award = Award.of(community_id, member_id, badge, tier, time, source_event_id=event_id)
            await self._store.award(award, region=region, programme=programme)

    async def _contributed(
        self, event_id: str, region: str, programme: str, community_id: str, member_id: str, time: datetime
    ) -> None:
        """Streak: the calendar weeks running, up to this one, in which the member asked or answered."""
        week = self._calendar.periods(time).week
        await self._store.add_fact(
            f"{community_id}:{member_id}:{week}",
            community_id=community_id,
            member_id=member_id,
            kind=CONTRIBUTED_WEEK,
            subject_id=week,
        )
        weeks = await self._store.fact_subjects(community_id, member_id, CONTRIBUTED_WEEK)
        back = [self._calendar.periods(time - timedelta(weeks=k)).week for k in range(_STREAK_LOOKBACK)]
        run = weeks_running(weeks, back)
        tiers = tiers_reached(Badge.STREAK, run)
        await self._award(event_id, region, programme, community_id, member_id, Badge.STREAK, tiers, time)

    async def question_asked(
        self, event_id: str, region: str, programme: str, community_id: str, author_id: str, time: datetime
    ) -> None:
        await self._award(
            event_id, region, programme, community_id, author_id, Badge.FIRST_QUESTION, [Tier.BRONZE], time
        )
        await self._contributed(event_id, region, programme, community_id, author_id, time)

    async def answer_posted(
        self,
        event_id: str,
        region: str,
        programme: str,
        community_id: str,
        author_id: str,
        answer_id: str,
        question_id: str,
        question_author_id: str,
        time: datetime,
    ) -> None:
        """Called for answers to others' questions only."""
        await self._award(
            event_id, region, programme, community_id, author_id, Badge.FIRST_ANSWER, [Tier.BRONZE], time
        )
        await self._contributed(event_id, region, programme, community_id, author_id, time)
        if not question_id or not question_author_id:
            return
        await self._store.add_fact(
            f"{ANSWER_TO}:{answer_id}",
            community_id=community_id,
            member_id=question_author_id,
            kind=ANSWER_TO,
            subject_id=question_id,
        )
        answers = await self._store.count_facts(community_id, ANSWER_TO, question_id)
        tiers = tiers_reached(Badge.CONVERSATION_STARTER, answers)
        await self._award(
            event_id,
            region,
            programme,
            community_id,
            question_author_id,
            Badge.CONVERSATION_STARTER,
            tiers,
            time,
        )

    async def answer_accepted(
        self, event_id: str, region: str, programme: str, community_id: str, author_id: str, time: datetime
    ) -> None:
        """Called after the acceptance's ledger entry is recorded, for answers to others' questions."""
        await self._award(
            event_id,
            region,
            programme,
            community_id,
            author_id,
            Badge.FIRST_ACCEPTED_ANSWER,
            [Tier.BRONZE],
            time,
        )
        accepted = await self._store.distinct_targets(community_id, author_id, Rule.ANSWER_ACCEPTED.value)
        tiers = tiers_reached(Badge.MENTOR, accepted)
        await self._award(event_id, region, programme, community_id, author_id, Badge.MENTOR, tiers, time)

    async def answer_scored(
        self,
        event_id: str,
        region: str,
        programme: str,
        community_id: str,
        author_id: str,
        score: int,
        time: datetime,
    ) -> None:
        """Helpful: one answer's score (upvotes less downvotes) reached the tier's count."""
        tiers = tiers_reached(Badge.HELPFUL, score)
        await self._award(event_id, region, programme, community_id, author_id, Badge.HELPFUL, tiers, time)


class BadgeUseCases:
    def __init__(self, store: BadgeStore, roles: RoleDirectory, visibility: Visibility) -> None:
        self._store = store
        self._roles = roles
        self._visibility = visibility

    async def list(
        self, caller: Principal, member_id: str, community_id: str, page_size: int, page_token: str
    ) -> Page[Award]:
        """The member's awards in one community the caller may see, or in every community they may see
        (all of them for the member themself and for services)."""
        size = clamp_page_size(page_size, 50, 100)
        member_id = member_id or caller.subject
        exclude: frozenset[str] = frozenset()
        if community_id:
            await self._visibility.require_unhidden(caller, community_id)
        elif member_id != caller.subject:
            exclude = await self._visibility.unseen_of(caller, await self._store.award_communities(member_id))
        return await self._store.list(member_id, community_id, size, page_token, exclude=exclude)

    async def grant_champion(
        self, caller: Principal, community_id: str, member_id: str, citation: str
    ) -> Award:
        check = Validator()
        check.require(bool(community_id), "community_id", "must not be empty")
        check.require(bool(member_id), "member_id", "must not be empty")
        check.require(
            0 < len(citation.strip()) <= CITATION_MAX, "citation", f"1 to {CITATION_MAX} characters"
        )
        check.check()
        if await self._roles.role(community_id, caller.subject) != "owner":
            raise PermissionDenied(
                "only the community's owners grant the champion badge",
                reason="NOT_COMMUNITY_OWNER",
                metadata={"required_role": "owner", "community_id": community_id},
            )
        if await self._roles.role(community_id, member_id) is None:
            raise NotFound(f"{member_id} is not a member of {community_id}", reason="MEMBER_NOT_FOUND")
        award = Award.of(
            community_id,
            member_id,
            Badge.CHAMPION,
            Tier.BRONZE,
            utc_now(),
            citation=citation.strip(),
            granted_by=caller.subject,
        )
        region, programme = await self._roles.routing(community_id, caller.subject)
        if not await self._store.award(award, region=region, programme=programme):
            raise AlreadyExists(
                f"{member_id} is a champion of {community_id} already", reason="ALREADY_AWARDED"
            )
        return award
