"""Ledger entries from content and community events.

Each (event, rule) counts once however often it is delivered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from guild_common.clock import utc_now
from guild_common.events.inbound import Handler
from guild_common.tags import normalise_tags
from guild_reputation.app.badges import BadgeRules
from guild_reputation.app.boards import LiveBoards
from guild_reputation.app.ledger import LedgerDecisions
from guild_reputation.app.ports import (
    Ledger,
    PointsRules,
    PostTags,
    Ratings,
    TargetState,
    Waits,
)
from guild_reputation.domain.integration_events import (
    AnswerAccepted,
    AnswerPosted,
    AnswerUnaccepted,
    CollectionFollowed,
    ItemRated,
    PostCreated,
    PostRemoved,
    QuestionAsked,
    ResourceShared,
    SurveyResponseSubmitted,
    VoteChanged,
    region_programme,
)
from guild_reputation.domain.rules import (
    PointsTable,
    Rule,
    earns_for_answer,
    rating_earns,
    upvote_delta,
)


class ContentEventHandlers:
    """Ledger entries and badges from content events (and surveys answered), decided by
    ``LedgerDecisions`` so that they are exact with any number of replicas and handlers at once."""

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
        self._decisions = LedgerDecisions(
            ledger, live, points, rules, post_tags, waits, tags_wait=tags_wait, clock=clock
        )
        self._ratings = ratings
        self._post_tags = post_tags
        self._badges = badges

    async def question_asked(self, e: QuestionAsked) -> None:
        meta = e.meta
        tags = normalise_tags(e.tags)
        await self._post_tags.remember(e.question_id, tags)
        await self._decisions.gain(
            meta, Rule.QUESTION_ASKED, e.community_id, e.author_id, e.question_id, tags=tags
        )
        if self._badges:
            await self._badges.question_asked(
                meta.id, *region_programme(meta), e.community_id, e.author_id, meta.time
            )

    async def answer_posted(self, e: AnswerPosted) -> None:
        meta = e.meta
        if not earns_for_answer(e.author_id, e.question_author_id):
            await self._post_tags.remember(e.answer_id, (), question_id=e.question_id)
            return
        tags = (
            await self._decisions.question_tags(meta, e.question_tags, e.question_id) if e.question_id else []
        )
        # Its question's tags kept with it: votes on it and its acceptance read one document.
        await self._post_tags.remember(e.answer_id, tags, question_id=e.question_id, resolved=bool(tags))
        await self._decisions.gain(
            meta, Rule.ANSWER_POSTED, e.community_id, e.author_id, e.answer_id, tags=tags
        )
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
        tags = await self._decisions.question_tags(meta, e.question_tags, e.answer_id, e.question_id)

        async def decision(state: TargetState) -> None:
            if not state.removed:
                await self._decisions.gain(
                    meta, rule, e.community_id, author, e.answer_id, tags=tags, guard=state.not_removed()
                )

        state = await self._decisions.decide(meta, e.community_id, author, e.answer_id, "", [rule], decision)
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
                await self._decisions.reverse(
                    meta, rule, state, e.community_id, author, e.answer_id, -net, state.unchanged()
                )

        await self._decisions.decide(meta, e.community_id, author, e.answer_id, "", [rule], decision)

    async def vote_changed(self, e: VoteChanged) -> None:
        """An upvote earns its author points; retracting it takes back what that voter's upvote earned."""
        meta = e.meta
        if e.voter_id == e.target_author_id:
            return
        delta = upvote_delta(e.previous_value, e.value)
        tags = (
            await self._decisions.question_tags(meta, e.question_tags, e.target_id, e.question_id)
            if delta > 0
            else []
        )
        author, gained, retracted = e.target_author_id, Rule.UPVOTE_RECEIVED, Rule.UPVOTE_RETRACTED

        async def decision(state: TargetState) -> None:
            if state.removed:
                return
            if delta > 0:
                await self._decisions.gain(
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
                await self._decisions.reverse(
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

        state = await self._decisions.decide(
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
            await self._decisions.reverse(
                meta, rule, state, e.community_id, e.author_id, e.post_id, -net, state.unchanged()
            )

        await self._decisions.decide(meta, e.community_id, e.author_id, e.post_id, "", [rule], decision)

    async def collection_followed(self, e: CollectionFollowed) -> None:
        """Someone else following a collection earns its curator points, once per follower."""
        meta = e.meta
        if e.follower_id == e.curator_id:
            return
        rule = Rule.COLLECTION_FOLLOWED

        async def decision(state: TargetState) -> None:
            if state.count(rule, by_actor=True):
                return  # followed before (and unfollowed since): a follow counts once per member
            await self._decisions.gain(
                meta,
                rule,
                e.community_id,
                e.curator_id,
                e.collection_id,
                e.follower_id,
                guard=state.actor_without(rule),
            )

        await self._decisions.decide(
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
                await self._decisions.gain(
                    meta,
                    rule,
                    e.community_id,
                    e.author_id,
                    e.resource_id,
                    tags=tags,
                    guard=state.not_removed(),
                )

        await self._decisions.decide(meta, e.community_id, e.author_id, e.resource_id, "", [rule], decision)

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
                tags = await self._decisions.tags(e.item_id)
                await self._decisions.gain(
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
                await self._decisions.reverse(
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

        await self._decisions.decide(
            meta, e.community_id, e.author_id, e.item_id, e.rater_id, [gained, reversed_], decision
        )

    async def survey_response_submitted(self, e: SurveyResponseSubmitted) -> None:
        """Answering a survey earns points once per survey and member; replacing the answers, nothing."""
        meta = e.meta
        rule = Rule.SURVEY_ANSWERED
        await self._decisions.gain(
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
