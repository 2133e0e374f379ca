"""Ledger entries from content and community events; board updates from every replica's ledger entries.

Each (event, rule) counts once however often it is delivered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from guild_common.atomic import ConcurrentChange
from guild_common.clock import utc_now
from guild_common.events.inbound import Handler
from guild_common.events.meta import EventMeta
from guild_common.tags import normalise_tags
from guild_reputation.app.badges import BadgeRules
from guild_reputation.app.boards import LiveBoards
from guild_reputation.app.ports import (
    Guard,
    Ledger,
    PointsRules,
    PostTags,
    Ratings,
    StaleDecision,
    TargetState,
    Waits,
)
from guild_reputation.domain.integration_events import (
    AnswerAccepted,
    AnswerPosted,
    AnswerUnaccepted,
    CollectionFollowed,
    ItemRated,
    PointsChanged,
    PostCreated,
    PostRemoved,
    QuestionAsked,
    ResourceShared,
    SurveyResponseSubmitted,
    VoteChanged,
    region_programme,
)
from guild_reputation.domain.rules import (
    LedgerEntry,
    PointsTable,
    Rule,
    RuleSetting,
    earns_for_answer,
    rating_earns,
    upvote_delta,
)


class NotYetKnown(Exception):
    """The event is about something this service has not heard of yet (a question's tags): the
    consumer delivers it again later, by when the event that tells it has been handled."""


# Times a decision is read and made again when its counter changed before it was counted.
DECIDE_ATTEMPTS = 16
Decision = Callable[[TargetState], Awaitable[None]]


class ContentEventHandlers:
    """Ledger entries and badges from content events.

    A decision that depends on what the member's entries about a post hold (a removal forbids gains, a
    reversal takes back what was earned, a follow or a rating credits once) reads the counters once
    (``target_state``) and records its entry guarded by what it read; a change in between makes the
    ledger refuse it (``StaleDecision``) and the decision is read and made again. So the handlers are
    exact with any number of replicas and handlers running at once, with no lock.
    """

    def __init__(
        self,
        ledger: Ledger,
        live: LiveBoards,
        points: PointsTable,
        rules: PointsRules,
        post_tags: PostTags,
        badges: BadgeRules | None = None,
        ratings: Ratings | None = None,
        waits: Waits | None = None,
        *,
        tags_wait: timedelta = timedelta(seconds=2),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``waits``/``tags_wait``: how long an event about a question this service has not heard of is
        delivered again before it is recorded without the question's tags (without ``waits``: not at
        all). ``clock``: the time waits are measured by."""
        self._waits = waits
        self._tags_wait = tags_wait
        self._clock = clock
        self._ratings = ratings
        self._ledger = ledger
        self._live = live
        self._points = points
        self._rules = rules
        self._post_tags = post_tags
        self._badges = badges

    async def _setting(self, community_id: str, rule: Rule) -> RuleSetting:
        return self._points.effective(await self._rules.overrides(community_id))[rule]

    async def _record(self, meta: EventMeta, entry: LedgerEntry, guard: Guard | None) -> None:
        """Append the entry, store the totals and show them on this replica's boards; the other
        replicas follow the entry's ``points_changed`` event."""
        region, programme = region_programme(meta)
        await self._ledger.record(entry, region=region, programme=programme, guard=guard)
        await self._live.refresh(self._ledger, entry.community_id, entry.member_id, entry.time, entry.id)

    async def _decide(
        self,
        meta: EventMeta,
        community_id: str,
        member_id: str,
        target_id: str,
        actor_id: str,
        rules: Sequence[Rule],
        decision: Decision,
    ) -> TargetState:
        """Run ``decision`` on the member's counters about the target until it is not stale; the state
        it was last run on.

        Counters holding one of this event's entries mean a crash left it counted in part: it is
        finished as first recorded (and shown on this replica's boards) rather than decided again.
        """
        ids = [f"{meta.id}:{rule.value}" for rule in rules]
        for _ in range(DECIDE_ATTEMPTS):
            state = await self._ledger.target_state(community_id, member_id, target_id, actor_id, ids)
            if state.held:
                for entry in await self._ledger.resume(sorted(state.held)):
                    await self._live.refresh(
                        self._ledger, entry.community_id, entry.member_id, entry.time, entry.id
                    )
                return state
            try:
                await decision(state)
            except StaleDecision:
                continue
            return state
        raise ConcurrentChange(f"the counters of {target_id[:64]} changed on each of {DECIDE_ATTEMPTS} tries")

    async def _gain(
        self,
        meta: EventMeta,
        rule: Rule,
        community_id: str,
        member_id: str,
        target_id: str,
        actor_id: str = "",
        tags: Sequence[str] = (),
        entry_id: str = "",
        guard: Guard | None = None,
    ) -> None:
        """A gain under the community's points for ``rule``, cut by the daily cap (an atomic counter
        per member, rule and day). ``entry_id``, when given, replaces the ``<event id>:<rule>`` id by a
        natural key that counts once across events."""
        setting = await self._setting(community_id, rule)
        entry = LedgerEntry.for_event(
            event_id=meta.id,
            rule=rule,
            community_id=community_id,
            member_id=member_id,
            amount=setting.points,
            target_id=target_id,
            time=meta.time,
            actor_id=actor_id,
            tags=tags,
        )
        if entry_id:
            entry = replace(entry, id=entry_id)
        if setting.daily_cap <= 0:
            await self._record(meta, entry, guard)
            return
        amount = await self._ledger.reserve_daily(entry, setting.daily_cap)
        try:
            await self._record(meta, entry.capped_to(amount) if amount < entry.amount else entry, guard)
        except StaleDecision:
            await self._ledger.unreserve_daily(entry)  # decided again, perhaps to gain nothing
            raise

    async def _reverse(
        self,
        meta: EventMeta,
        rule: Rule,
        state: TargetState,
        community_id: str,
        member_id: str,
        target_id: str,
        amount: int,
        guard: Guard,
        actor_id: str = "",
    ) -> None:
        """Takes back what entries about ``target_id`` earned, under the tags they were recorded with."""
        entry = LedgerEntry.for_event(
            event_id=meta.id,
            rule=rule,
            community_id=community_id,
            member_id=member_id,
            amount=amount,
            target_id=target_id,
            time=meta.time,
            actor_id=actor_id,
            tags=state.tags,
        )
        await self._record(meta, entry, guard)

    async def _tags(self, post_id: str, question_id: str = "") -> list[str]:
        """The post's tags from the read model; an answer unknown there takes its question's."""
        tags = await self._post_tags.tags_of(post_id)
        if not tags and question_id and question_id != post_id:
            tags = await self._post_tags.tags_of(question_id)
        return tags

    async def _question_tags(
        self, meta: EventMeta, carried: Sequence[str], post_id: str, question_id: str = ""
    ) -> list[str]:
        """The tags of a question or answer (its question's): from the read model, else from the event
        when it carries them. While neither knows, the event is delivered again (``NotYetKnown``, which
        the consumer retries with backoff) rather than recorded untagged for good: for ``tags_wait``
        from when a replica first saw it, after which the question is taken to be one this service
        will not hear of (asked before it ran, or outside its slice) and the entry has no tags."""
        tags = await self._post_tags.known_tags(post_id)
        if tags is None and question_id and question_id != post_id:
            tags = await self._post_tags.known_tags(question_id)
        if tags is None:
            tags = normalise_tags(carried) or None
        key = f"tags:{meta.id}"
        if tags is not None or self._waits is None:
            return tags or []
        now = self._clock()
        if now - await self._waits.first_seen(key, now) < self._tags_wait:
            raise NotYetKnown(f"the tags of question {(question_id or post_id)[:64]} are not known yet")
        await self._waits.forget(key)
        return []

    async def question_asked(self, e: QuestionAsked) -> None:
        meta = e.meta
        tags = normalise_tags(e.tags)
        await self._post_tags.remember(e.question_id, tags)
        await self._gain(meta, Rule.QUESTION_ASKED, e.community_id, e.author_id, e.question_id, tags=tags)
        if self._badges:
            await self._badges.question_asked(
                meta.id, *region_programme(meta), e.community_id, e.author_id, meta.time
            )

    async def answer_posted(self, e: AnswerPosted) -> None:
        meta = e.meta
        if not earns_for_answer(e.author_id, e.question_author_id):
            await self._post_tags.remember(e.answer_id, (), question_id=e.question_id)
            return
        tags = await self._question_tags(meta, e.question_tags, e.question_id) if e.question_id else []
        # Its question's tags kept with it: votes on it and its acceptance read one document.
        await self._post_tags.remember(e.answer_id, tags, question_id=e.question_id, resolved=bool(tags))
        await self._gain(meta, Rule.ANSWER_POSTED, e.community_id, e.author_id, e.answer_id, tags=tags)
        if self._badges:
            await self._badges.answer_posted(
                meta.id,
                *region_programme(meta),
                e.community_id,
                e.author_id,
                e.answer_id,
                e.question_id,
                e.question_author_id,
                meta.time,
            )

    async def answer_accepted(self, e: AnswerAccepted) -> None:
        meta = e.meta
        if not earns_for_answer(e.answer_author_id, e.question_author_id):
            return
        rule, author = Rule.ANSWER_ACCEPTED, e.answer_author_id
        tags = await self._question_tags(meta, e.question_tags, e.answer_id, e.question_id)

        async def decision(state: TargetState) -> None:
            if not state.removed:
                await self._gain(
                    meta, rule, e.community_id, author, e.answer_id, tags=tags, guard=state.not_removed()
                )

        state = await self._decide(meta, e.community_id, author, e.answer_id, "", [rule], decision)
        if self._badges and not state.removed:
            await self._badges.answer_accepted(
                meta.id, *region_programme(meta), e.community_id, author, meta.time
            )

    async def answer_unaccepted(self, e: AnswerUnaccepted) -> None:
        """Take back what the acceptance earned, whatever the rules said at the time."""
        meta = e.meta
        rule, author = Rule.ANSWER_ACCEPTED_REVERSED, e.answer_author_id

        async def decision(state: TargetState) -> None:
            if state.removed:
                return  # the removal took it back already
            net = state.net([Rule.ANSWER_ACCEPTED, rule])
            if net > 0:
                await self._reverse(
                    meta, rule, state, e.community_id, author, e.answer_id, -net, state.unchanged()
                )

        await self._decide(meta, e.community_id, author, e.answer_id, "", [rule], decision)

    async def vote_changed(self, e: VoteChanged) -> None:
        """An upvote earns its author points; retracting it takes back what that voter's upvote earned."""
        meta = e.meta
        if e.voter_id == e.target_author_id:
            return
        delta = upvote_delta(e.previous_value, e.value)
        tags = (
            await self._question_tags(meta, e.question_tags, e.target_id, e.question_id) if delta > 0 else []
        )
        author, gained, retracted = e.target_author_id, Rule.UPVOTE_RECEIVED, Rule.UPVOTE_RETRACTED

        async def decision(state: TargetState) -> None:
            if state.removed:
                return
            if delta > 0:
                await self._gain(
                    meta,
                    gained,
                    e.community_id,
                    author,
                    e.target_id,
                    e.voter_id,
                    tags=tags,
                    guard=state.not_removed(),
                )
            net = state.net([gained, retracted], by_actor=True) if delta < 0 else 0
            if net > 0:
                # Guarded on the post's counter: a removal or another reversal in between is seen.
                await self._reverse(
                    meta,
                    retracted,
                    state,
                    e.community_id,
                    author,
                    e.target_id,
                    -net,
                    state.unchanged(),
                    e.voter_id,
                )

        state = await self._decide(
            meta, e.community_id, author, e.target_id, e.voter_id, [gained, retracted], decision
        )
        if self._badges and e.target_kind == "answer" and not state.removed:
            await self._badges.answer_scored(
                meta.id, *region_programme(meta), e.community_id, author, e.score, meta.time
            )

    async def post_removed(self, e: PostRemoved) -> None:
        """A moderator's removal takes back everything the post earned its author, once."""
        meta = e.meta
        if not e.by_moderator:
            return
        rule = Rule.POST_REMOVED

        async def decision(state: TargetState) -> None:
            if state.removed:
                return
            net = state.net([r for r in Rule if r is not rule])
            # Recorded even at 0: it marks the post removed, so later votes or unaccepting earn nothing.
            await self._reverse(
                meta, rule, state, e.community_id, e.author_id, e.post_id, -net, state.unchanged()
            )

        await self._decide(meta, e.community_id, e.author_id, e.post_id, "", [rule], decision)

    async def collection_followed(self, e: CollectionFollowed) -> None:
        """Someone else following a collection earns its curator points, once per follower."""
        meta = e.meta
        if e.follower_id == e.curator_id:
            return
        rule = Rule.COLLECTION_FOLLOWED

        async def decision(state: TargetState) -> None:
            if state.count(rule, by_actor=True):
                return  # followed before (and unfollowed since): a follow counts once per member
            await self._gain(
                meta,
                rule,
                e.community_id,
                e.curator_id,
                e.collection_id,
                e.follower_id,
                guard=state.actor_without(rule),
            )

        await self._decide(
            meta, e.community_id, e.curator_id, e.collection_id, e.follower_id, [rule], decision
        )

    async def post_created(self, e: PostCreated) -> None:
        await self._post_tags.remember(e.post_id, normalise_tags(e.tags))

    async def resource_shared(self, e: ResourceShared) -> None:
        """Sharing a resource earns its author points (taken back if a moderator removes it)."""
        meta = e.meta
        tags = normalise_tags(e.tags)
        await self._post_tags.remember(e.resource_id, tags)
        if not e.community_id or not e.author_id:
            return  # nobody to credit: the tags are all it tells
        rule = Rule.RESOURCE_SHARED

        async def decision(state: TargetState) -> None:
            if not state.removed:
                await self._gain(
                    meta,
                    rule,
                    e.community_id,
                    e.author_id,
                    e.resource_id,
                    tags=tags,
                    guard=state.not_removed(),
                )

        await self._decide(meta, e.community_id, e.author_id, e.resource_id, "", [rule], decision)

    async def item_rated(self, e: ItemRated) -> None:
        """A rating of 4 or 5 stars by someone else earns the item's author points, once per rater.

        The rater's current stars (the latest rating) decide: the author is credited while they are 4
        or more, and the credit is taken back when they drop below 4 and given again if they rise.
        Whether the author is credited now is the count of that rater's gains against reversals, and
        the entry that changes it is guarded on that rater's counter.
        """
        meta = e.meta
        if self._ratings is None or not (e.community_id and e.author_id and e.rater_id):
            return  # nobody to credit; the item's average is all it tells
        if e.rater_id == e.author_id:
            return
        moment = e.rate_time
        gained, reversed_ = Rule.RESOURCE_RATED, Rule.RESOURCE_RATED_REVERSED
        stars = await self._ratings.rate(e.item_id, e.rater_id, e.stars, moment)

        async def decision(state: TargetState) -> None:
            if state.removed:
                return
            credited = state.count(gained, by_actor=True) > state.count(reversed_, by_actor=True)
            if rating_earns(stars) and not credited:
                tags = await self._tags(e.item_id)
                await self._gain(
                    meta,
                    gained,
                    e.community_id,
                    e.author_id,
                    e.item_id,
                    e.rater_id,
                    tags=tags,
                    guard=state.unchanged(by_actor=True),
                )
            elif not rating_earns(stars) and credited:
                net = state.net([gained, reversed_], by_actor=True)
                # Recorded even at 0 (a gain the cap cut to nothing): it balances the gain.
                await self._reverse(
                    meta,
                    reversed_,
                    state,
                    e.community_id,
                    e.author_id,
                    e.item_id,
                    -net,
                    state.unchanged(by_actor=True),
                    e.rater_id,
                )

        await self._decide(
            meta, e.community_id, e.author_id, e.item_id, e.rater_id, [gained, reversed_], decision
        )

    async def survey_response_submitted(self, e: SurveyResponseSubmitted) -> None:
        """Answering a survey earns points once per survey and member; replacing the answers, nothing."""
        meta = e.meta
        rule = Rule.SURVEY_ANSWERED
        await self._gain(
            meta,
            rule,
            e.community_id,
            e.member_id,
            e.survey_id,
            entry_id=f"survey:{e.survey_id}:{e.member_id}:{rule.value}",
        )

    def handlers(self) -> dict[type, Handler]:
        return {
            PostCreated: self.post_created,
            ResourceShared: self.resource_shared,
            QuestionAsked: self.question_asked,
            AnswerPosted: self.answer_posted,
            AnswerAccepted: self.answer_accepted,
            AnswerUnaccepted: self.answer_unaccepted,
            VoteChanged: self.vote_changed,
            PostRemoved: self.post_removed,
            CollectionFollowed: self.collection_followed,
            ItemRated: self.item_rated,
            SurveyResponseSubmitted: self.survey_response_submitted,
        }


class PointsFollower:
    """Keeps this replica's boards current from every replica's ``points_changed`` events.

    The event carries one entry; the stored totals it touched are read back (they include the entry,
    which is released only after they are written, and stored totals only grow in entries), so
    applying is absolute, idempotent and, events being handled one at a time, never goes backwards.
    """

    def __init__(self, ledger: Ledger, live: LiveBoards) -> None:
        self._ledger = ledger
        self._live = live

    async def points_changed(self, e: PointsChanged) -> None:
        if self._live.applied(e.entry_id):
            return
        await self._live.refresh(self._ledger, e.community_id, e.member_id, e.time, e.entry_id)
