"""Badges: earned from content events by the built-in catalogue, or granted by owners (champion)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.message import DecodeError

from guild.events.v1 import content_events_pb2 as events
from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import AlreadyExists, NotFound, PermissionDenied, Validator
from guild_common.events.consumer import EventHandler
from guild_common.events.envelope import Envelope
from guild_common.pagination import clamp_page_size
from guild_reputation.app.ports import BadgeStore, CuratedCollection, Ratings, RoleDirectory
from guild_reputation.app.visibility import Visibility
from guild_reputation.domain.badges import (
    CITATION_MAX,
    THRESHOLDS,
    Award,
    Badge,
    Tier,
    tiers_reached,
    weeks_running,
    well_curated,
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


class CuratorRules:
    """The curator badge, from a read model of published collections' items and items' averages.

    A collection is judged when it is published and whenever one of its items is rated; once it
    counts, it is a fact (``curated:<collection>``) that stays, and the curator's tiers follow the
    number of such facts. Facts and awards have natural-key ids: redelivery never counts twice.
    """

    def __init__(self, store: BadgeStore, ratings: Ratings) -> None:
        self._store = store
        self._ratings = ratings

    async def _judge(self, envelope: Envelope, collection: CuratedCollection, time: datetime) -> None:
        averages = await self._ratings.averages(collection.item_ids)
        if not well_curated(collection.item_ids, averages):
            return
        await self._store.add_fact(
            f"curated:{collection.collection_id}",
            community_id=collection.community_id,
            member_id=collection.curator_id,
            kind=CURATED_COLLECTION,
            subject_id=collection.collection_id,
        )
        curated = await self._store.fact_subjects(
            collection.community_id, collection.curator_id, CURATED_COLLECTION
        )
        region, programme = _region_programme(envelope)
        for tier in tiers_reached(Badge.CURATOR, len(curated)):
            award = Award.of(
                collection.community_id,
                collection.curator_id,
                Badge.CURATOR,
                tier,
                time,
                source_event_id=envelope.id,
            )
            await self._store.award(award, region=region, programme=programme)

    async def collection_published(self, envelope: Envelope) -> None:
        try:
            e = envelope.payload(events.CollectionPublished)
        except DecodeError:
            return  # dead-lettered by the event's other handlers
        if not (e.collection_id and e.community_id and e.curator_id):
            return  # judged by the other handlers of the event, which dead-letter it
        moment = e.publish_time.ToDatetime(tzinfo=UTC) if e.HasField("publish_time") else envelope.time
        collection = CuratedCollection(e.collection_id, e.community_id, e.curator_id, tuple(e.item_post_ids))
        await self._ratings.publish(collection, moment)
        stored = await self._ratings.collection(e.collection_id)
        if stored is not None:
            await self._judge(envelope, stored, envelope.time)

    async def item_rated(self, envelope: Envelope) -> None:
        try:
            e = envelope.payload(events.ItemRated)
        except DecodeError:
            return  # dead-lettered by the event's other handlers
        if not e.item_id:
            return
        moment = e.rate_time.ToDatetime(tzinfo=UTC) if e.HasField("rate_time") else envelope.time
        await self._ratings.item_average(e.item_id, e.average, e.count, moment)
        for collection in await self._ratings.collections_with(e.item_id):
            await self._judge(envelope, collection, envelope.time)

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "guild.content.collection_published.v1": self.collection_published,
            "guild.content.item_rated.v1": self.item_rated,
        }


def _region_programme(envelope: Envelope) -> tuple[str, str]:
    """Region and programme from the subject ``guild.<region>.<programme>.<svc>.<event>``."""
    parts = envelope.topic.split(".")
    return (parts[1], parts[2]) if len(parts) >= 5 else ("unknown", "unknown")


class BadgeUseCases:
    def __init__(self, store: BadgeStore, roles: RoleDirectory, visibility: Visibility) -> None:
        self._store = store
        self._roles = roles
        self._visibility = visibility

    async def list(
        self, caller: Principal, member_id: str, community_id: str, page_size: int, page_token: str
    ) -> tuple[list[Award], str]:
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
