"""CPD credits from content and community events, under each community's CPD rules."""

from __future__ import annotations

from guild_common.events.inbound import Handler
from guild_common.events.meta import EventMeta
from guild_reputation.app.cpd import CreditCounter
from guild_reputation.app.ports import CpdStore
from guild_reputation.domain.cpd import CpdActivity, CpdCredit, CreditState, Evidence, credit_id
from guild_reputation.domain.integration_events import (
    AnswerAccepted,
    CollectionPublished,
    ItemRated,
    SurveyResponseSubmitted,
    region_programme,
)
from guild_reputation.domain.rules import earns_for_answer


class CpdCredits:
    """Credits from content and community events, under each community's CPD rules."""

    def __init__(self, store: CpdStore, counter: CreditCounter, evidence: Evidence) -> None:
        self._store = store
        self._counter = counter
        self._evidence = evidence

    async def _credit(
        self,
        meta: EventMeta,
        activity: CpdActivity,
        community_id: str,
        member_id: str,
        target_id: str,
        description: str,
        evidence_url: str,
    ) -> None:
        rules = await self._store.rules(community_id)
        if rules is None or activity not in rules.minutes or not rules.applies_to(meta.time):
            return
        region, programme = region_programme(meta)
        credit = CpdCredit(
            id=credit_id(meta.id, activity),
            community_id=community_id,
            member_id=member_id,
            activity=activity,
            minutes=rules.minutes[activity],
            state=CreditState.PENDING if rules.reflection_required else CreditState.RESERVING,
            cpd_year=rules.year_of(meta.time),
            month=rules.month_of(meta.time),
            time=meta.time,
            target_id=target_id,
            description=description[:300],
            evidence_url=evidence_url,
            source_event_id=meta.id,
            region=region,
            programme=programme,
        )
        stored = await self._store.add(credit)
        if stored is not None:
            await self._counter.settle(stored)

    async def answer_accepted(self, e: AnswerAccepted) -> None:
        if not earns_for_answer(e.answer_author_id, e.question_author_id):
            return
        title = f"Answer accepted: {e.question_title}" if e.question_title else "Answer accepted"
        await self._credit(
            e.meta,
            CpdActivity.ANSWER_ACCEPTED,
            e.community_id,
            e.answer_author_id,
            e.answer_id,
            title,
            self._evidence.answer(e.community_id, e.question_id or e.answer_id, e.answer_id),
        )

    async def item_rated(self, e: ItemRated) -> None:
        if not (e.community_id and e.rater_id) or e.rater_id == e.author_id:
            return
        await self._credit(
            e.meta,
            CpdActivity.RESOURCE_REVIEWED,
            e.community_id,
            e.rater_id,
            e.item_id,
            f"Reviewed a {e.item_kind or 'resource'} ({e.stars} of 5 stars)",
            self._evidence.resource(e.community_id, e.item_id),
        )

    async def collection_published(self, e: CollectionPublished) -> None:
        await self._credit(
            e.meta,
            CpdActivity.COLLECTION_PUBLISHED,
            e.community_id,
            e.curator_id,
            e.collection_id,
            f"Published collection: {e.title}" if e.title else "Published a collection",
            self._evidence.collection(e.community_id, e.collection_id),
        )

    async def survey_response_submitted(self, e: SurveyResponseSubmitted) -> None:
        await self._credit(
            e.meta,
            CpdActivity.REFLECTION_SURVEY,
            e.community_id,
            e.member_id,
            e.survey_id,
            "Completed a reflection survey",
            self._evidence.survey(e.community_id, e.survey_id),
        )

    def handlers(self) -> dict[type, Handler]:
        return {
            AnswerAccepted: self.answer_accepted,
            ItemRated: self.item_rated,
            CollectionPublished: self.collection_published,
            SurveyResponseSubmitted: self.survey_response_submitted,
        }
