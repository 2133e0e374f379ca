"""Points from content events, roles from community events, board updates from points events.

Each (event, rule) counts once however often it is delivered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from guild.events.v1 import community_events_pb2 as community_events
from guild.events.v1 import content_events_pb2 as events
from guild.events.v1 import reputation_events_pb2 as reputation_events
from guild_common.doclocks import document_lock
from guild_common.events.consumer import EventHandler, PermanentError
from guild_common.events.envelope import Envelope
from guild_common.tags import normalise_tags
from guild_reputation.app.badges import BadgeRules
from guild_reputation.app.boards import LiveBoards
from guild_reputation.app.ports import Ledger, PointsRules, PostTags, Ratings, RoleWriter
from guild_reputation.domain.rules import (
    LedgerEntry,
    PointsTable,
    Rule,
    RuleSetting,
    capped_amount,
    earns_for_answer,
    rating_earns,
    upvote_delta,
)

M = TypeVar("M", bound=Message)
DAILY_CAPS = "daily_caps"
# Lock namespace serialising the handling of one member's ratings of one item.
RATER_ITEM = "rater_item"


def payload(envelope: Envelope, message_type: type[M], *required: str) -> M:
    """The event's payload; a malformed one, or one missing a required field, is dead-lettered."""
    try:
        message = envelope.payload(message_type)
    except DecodeError as exc:
        raise PermanentError(f"malformed {message_type.DESCRIPTOR.name}: {exc}") from exc
    missing = [name for name in required if not getattr(message, name)]
    if missing:
        raise PermanentError(f"{message_type.DESCRIPTOR.name} without {', '.join(missing)}")
    return message


def combine(*tables: Mapping[str, EventHandler]) -> dict[str, EventHandler]:
    """One handler per event type running the given tables' handlers of that type in order."""
    chains: dict[str, list[EventHandler]] = {}
    for table in tables:
        for name, handler in table.items():
            chains.setdefault(name, []).append(handler)

    def chained(handlers: list[EventHandler]) -> EventHandler:
        async def handle(envelope: Envelope) -> None:
            for handler in handlers:
                await handler(envelope)

        return handle

    return {
        name: handlers[0] if len(handlers) == 1 else chained(handlers) for name, handlers in chains.items()
    }


def region_programme(envelope: Envelope) -> tuple[str, str]:
    """Region and programme from the subject ``guild.<region>.<programme>.<svc>.<event>``."""
    parts = envelope.topic.split(".")
    return (parts[1], parts[2]) if len(parts) >= 5 else ("unknown", "unknown")


class ContentEventHandlers:
    """Ledger entries and badges from content events."""

    def __init__(
        self,
        ledger: Ledger,
        live: LiveBoards,
        points: PointsTable,
        rules: PointsRules,
        post_tags: PostTags,
        badges: BadgeRules | None = None,
        ratings: Ratings | None = None,
    ) -> None:
        self._ratings = ratings
        self._ledger = ledger
        self._live = live
        self._points = points
        self._rules = rules
        self._post_tags = post_tags
        self._badges = badges

    async def _setting(self, community_id: str, rule: Rule) -> RuleSetting:
        return self._points.effective(await self._rules.overrides(community_id))[rule]

    async def _record(self, envelope: Envelope, entry: LedgerEntry) -> None:
        """Append the entry, store the totals and show them on this replica's boards; the other
        replicas follow the entry's ``points_changed`` event."""
        region, programme = region_programme(envelope)
        await self._ledger.record(entry, region=region, programme=programme)
        await self._live.refresh(self._ledger, entry.community_id, entry.member_id, entry.time, entry.id)

    async def _resume(self, envelope: Envelope, *rules: Rule) -> None:
        """Finish this event's entries a crash left counted in part and unreleased, before any check
        reads the counters they may already be in (which would turn the redelivery away with the
        entry never released), and show them on this replica's boards."""
        for entry in await self._ledger.resume([f"{envelope.id}:{rule.value}" for rule in rules]):
            await self._live.refresh(self._ledger, entry.community_id, entry.member_id, entry.time, entry.id)

    async def _gain(
        self,
        envelope: Envelope,
        rule: Rule,
        community_id: str,
        member_id: str,
        target_id: str,
        actor_id: str = "",
        tags: Sequence[str] = (),
        entry_id: str = "",
    ) -> None:
        """A gain under the community's points for ``rule``, cut by the daily cap. ``entry_id``, when
        given, replaces the ``<event id>:<rule>`` id by a natural key that counts once across events."""
        setting = await self._setting(community_id, rule)
        entry = LedgerEntry.for_event(
            event_id=envelope.id,
            rule=rule,
            community_id=community_id,
            member_id=member_id,
            amount=setting.points,
            target_id=target_id,
            time=envelope.time,
            actor_id=actor_id,
            tags=tags,
        )
        if entry_id:
            entry = replace(entry, id=entry_id)
        if setting.daily_cap <= 0:
            await self._record(envelope, entry)
            return
        async with document_lock(DAILY_CAPS, (community_id, member_id, rule)):
            earned = await self._ledger.earned_on(community_id, member_id, rule, envelope.time)
            amount, capped = capped_amount(setting, earned)
            await self._record(envelope, entry.capped_to(amount) if capped else entry)

    async def _reverse(
        self,
        envelope: Envelope,
        rule: Rule,
        community_id: str,
        member_id: str,
        target_id: str,
        amount: int,
        actor_id: str = "",
    ) -> None:
        """Takes back what entries about ``target_id`` earned, under the tags they were recorded with."""
        entry = LedgerEntry.for_event(
            event_id=envelope.id,
            rule=rule,
            community_id=community_id,
            member_id=member_id,
            amount=amount,
            target_id=target_id,
            time=envelope.time,
            actor_id=actor_id,
            tags=await self._ledger.tags_for_target(community_id, member_id, target_id),
        )
        await self._record(envelope, entry)

    async def _tags(self, post_id: str, question_id: str = "") -> list[str]:
        """The post's tags from the read model; an answer unknown there takes its question's."""
        tags = await self._post_tags.tags_of(post_id)
        if not tags and question_id and question_id != post_id:
            tags = await self._post_tags.tags_of(question_id)
        return tags

    async def _removed(self, community_id: str, member_id: str, target_id: str) -> bool:
        return await self._ledger.has_entry(community_id, member_id, target_id, Rule.POST_REMOVED)

    async def question_asked(self, envelope: Envelope) -> None:
        e = payload(envelope, events.QuestionAsked, "question_id", "community_id", "author_id")
        tags = normalise_tags(e.tags)
        await self._post_tags.remember(e.question_id, tags)
        await self._gain(envelope, Rule.QUESTION_ASKED, e.community_id, e.author_id, e.question_id, tags=tags)
        if self._badges:
            await self._badges.question_asked(
                envelope.id, *region_programme(envelope), e.community_id, e.author_id, envelope.time
            )

    async def answer_posted(self, envelope: Envelope) -> None:
        e = payload(envelope, events.AnswerPosted, "answer_id", "community_id", "author_id")
        await self._post_tags.remember(e.answer_id, (), question_id=e.question_id)
        if not earns_for_answer(e.author_id, e.question_author_id):
            return
        tags = await self._tags(e.question_id) if e.question_id else []
        await self._gain(envelope, Rule.ANSWER_POSTED, e.community_id, e.author_id, e.answer_id, tags=tags)
        if self._badges:
            await self._badges.answer_posted(
                envelope.id,
                *region_programme(envelope),
                e.community_id,
                e.author_id,
                e.answer_id,
                e.question_id,
                e.question_author_id,
                envelope.time,
            )

    async def answer_accepted(self, envelope: Envelope) -> None:
        e = payload(envelope, events.AnswerAccepted, "answer_id", "community_id", "answer_author_id")
        await self._resume(envelope, Rule.ANSWER_ACCEPTED)
        if not earns_for_answer(e.answer_author_id, e.question_author_id):
            return
        if await self._removed(e.community_id, e.answer_author_id, e.answer_id):
            return
        tags = await self._tags(e.answer_id, e.question_id)
        await self._gain(
            envelope, Rule.ANSWER_ACCEPTED, e.community_id, e.answer_author_id, e.answer_id, tags=tags
        )
        if self._badges:
            await self._badges.answer_accepted(
                envelope.id, *region_programme(envelope), e.community_id, e.answer_author_id, envelope.time
            )

    async def answer_unaccepted(self, envelope: Envelope) -> None:
        """Take back what the acceptance earned, whatever the rules said at the time."""
        e = payload(envelope, events.AnswerUnaccepted, "answer_id", "community_id", "answer_author_id")
        await self._resume(envelope, Rule.ANSWER_ACCEPTED_REVERSED)
        if await self._removed(e.community_id, e.answer_author_id, e.answer_id):
            return  # the removal took it back already
        net = await self._ledger.net_for_target(
            e.community_id,
            e.answer_author_id,
            e.answer_id,
            [Rule.ANSWER_ACCEPTED, Rule.ANSWER_ACCEPTED_REVERSED],
        )
        if net > 0:
            await self._reverse(
                envelope, Rule.ANSWER_ACCEPTED_REVERSED, e.community_id, e.answer_author_id, e.answer_id, -net
            )

    async def vote_changed(self, envelope: Envelope) -> None:
        """An upvote earns its author points; retracting it takes back what that voter's upvote earned."""
        e = payload(envelope, events.VoteChanged, "target_id", "community_id", "voter_id", "target_author_id")
        await self._resume(envelope, Rule.UPVOTE_RECEIVED, Rule.UPVOTE_RETRACTED)
        if e.voter_id == e.target_author_id:
            return
        if await self._removed(e.community_id, e.target_author_id, e.target_id):
            return
        delta = upvote_delta(e.previous_value, e.value)
        if delta > 0:
            await self._gain(
                envelope,
                Rule.UPVOTE_RECEIVED,
                e.community_id,
                e.target_author_id,
                e.target_id,
                e.voter_id,
                tags=await self._tags(e.target_id, e.question_id),
            )
        if self._badges and e.target_kind == "answer":
            await self._badges.answer_scored(
                envelope.id,
                *region_programme(envelope),
                e.community_id,
                e.target_author_id,
                e.score,
                envelope.time,
            )
        if delta >= 0:
            return
        net = await self._ledger.net_for_target(
            e.community_id,
            e.target_author_id,
            e.target_id,
            [Rule.UPVOTE_RECEIVED, Rule.UPVOTE_RETRACTED],
            actor_id=e.voter_id,
        )
        if net > 0:
            await self._reverse(
                envelope,
                Rule.UPVOTE_RETRACTED,
                e.community_id,
                e.target_author_id,
                e.target_id,
                -net,
                e.voter_id,
            )

    async def post_removed(self, envelope: Envelope) -> None:
        """A moderator's removal takes back everything the post earned its author, once."""
        e = payload(envelope, events.PostRemoved, "post_id", "community_id", "author_id")
        await self._resume(envelope, Rule.POST_REMOVED)
        if not e.by_moderator or await self._removed(e.community_id, e.author_id, e.post_id):
            return
        net = await self._ledger.net_for_target(
            e.community_id, e.author_id, e.post_id, [r for r in Rule if r is not Rule.POST_REMOVED]
        )
        # Recorded even at 0: it marks the post removed, so later votes or unaccepting earn or take nothing.
        await self._reverse(envelope, Rule.POST_REMOVED, e.community_id, e.author_id, e.post_id, -net)

    async def collection_followed(self, envelope: Envelope) -> None:
        """Someone else following a collection earns its curator points, once per follower."""
        e = payload(
            envelope, events.CollectionFollowed, "collection_id", "community_id", "curator_id", "follower_id"
        )
        if e.follower_id == e.curator_id:
            return
        rule = Rule.COLLECTION_FOLLOWED
        await self._resume(envelope, rule)
        earlier = await self._ledger.has_entry(
            e.community_id,
            e.curator_id,
            e.collection_id,
            rule,
            actor_id=e.follower_id,
            other_than=f"{envelope.id}:{rule.value}",
        )
        if earlier:
            return  # followed before (and unfollowed since): a follow counts once per member
        await self._gain(envelope, rule, e.community_id, e.curator_id, e.collection_id, e.follower_id)

    async def post_created(self, envelope: Envelope) -> None:
        e = payload(envelope, events.PostCreated, "post_id")
        await self._post_tags.remember(e.post_id, normalise_tags(e.tags))

    async def resource_shared(self, envelope: Envelope) -> None:
        """Sharing a resource earns its author points (taken back if a moderator removes it)."""
        e = payload(envelope, events.ResourceShared, "resource_id")
        tags = normalise_tags(e.tags)
        await self._post_tags.remember(e.resource_id, tags)
        if not e.community_id or not e.author_id:
            return  # nobody to credit: the tags are all it tells
        await self._resume(envelope, Rule.RESOURCE_SHARED)
        if await self._removed(e.community_id, e.author_id, e.resource_id):
            return
        await self._gain(
            envelope, Rule.RESOURCE_SHARED, e.community_id, e.author_id, e.resource_id, tags=tags
        )

    async def item_rated(self, envelope: Envelope) -> None:
        """A rating of 4 or 5 stars by someone else earns the item's author points, once per rater.

        The rater's current stars (the latest rating) decide: the author is credited while they are 4
        or more, and the credit is taken back when they drop below 4 and given again if they rise.
        Whether the author is credited now is the count of that rater's gains against reversals.
        """
        e = payload(envelope, events.ItemRated, "item_id")
        if self._ratings is None or not (e.community_id and e.author_id and e.rater_id):
            return  # nobody to credit; the item's average is all it tells
        if e.rater_id == e.author_id:
            return
        moment = e.rate_time.ToDatetime(tzinfo=UTC) if e.HasField("rate_time") else envelope.time
        gained, reversed_ = Rule.RESOURCE_RATED, Rule.RESOURCE_RATED_REVERSED
        async with document_lock(RATER_ITEM, (e.item_id, e.rater_id)):
            await self._resume(envelope, gained, reversed_)
            if await self._removed(e.community_id, e.author_id, e.item_id):
                return
            stars = await self._ratings.rate(e.item_id, e.rater_id, e.stars, moment)
            gains = await self._ledger.count_for_target(
                e.community_id, e.author_id, e.item_id, gained, actor_id=e.rater_id
            )
            reversals = await self._ledger.count_for_target(
                e.community_id, e.author_id, e.item_id, reversed_, actor_id=e.rater_id
            )
            credited = gains > reversals
            if rating_earns(stars) and not credited:
                tags = await self._tags(e.item_id)
                await self._gain(
                    envelope, gained, e.community_id, e.author_id, e.item_id, e.rater_id, tags=tags
                )
            elif not rating_earns(stars) and credited:
                net = await self._ledger.net_for_target(
                    e.community_id, e.author_id, e.item_id, [gained, reversed_], actor_id=e.rater_id
                )
                # Recorded even at 0 (a gain the cap cut to nothing): it balances the gain.
                await self._reverse(
                    envelope, reversed_, e.community_id, e.author_id, e.item_id, -net, e.rater_id
                )

    async def survey_response_submitted(self, envelope: Envelope) -> None:
        """Answering a survey earns points once per survey and member; replacing the answers, nothing."""
        e = payload(
            envelope, community_events.SurveyResponseSubmitted, "survey_id", "community_id", "member_id"
        )
        rule = Rule.SURVEY_ANSWERED
        await self._gain(
            envelope,
            rule,
            e.community_id,
            e.member_id,
            e.survey_id,
            entry_id=f"survey:{e.survey_id}:{e.member_id}:{rule.value}",
        )

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "guild.content.post_created.v1": self.post_created,
            "guild.content.resource_shared.v1": self.resource_shared,
            "guild.content.question_asked.v1": self.question_asked,
            "guild.content.answer_posted.v1": self.answer_posted,
            "guild.content.answer_accepted.v1": self.answer_accepted,
            "guild.content.answer_unaccepted.v1": self.answer_unaccepted,
            "guild.content.vote_changed.v1": self.vote_changed,
            "guild.content.post_removed.v1": self.post_removed,
            "guild.content.collection_followed.v1": self.collection_followed,
            "guild.content.item_rated.v1": self.item_rated,
        }

    def community_handlers(self) -> dict[str, EventHandler]:
        return {"guild.community.survey_response_submitted.v1": self.survey_response_submitted}


class CommunityEventHandlers:
    """Community roles into the local read model, so owners can be recognised without a call."""

    def __init__(self, roles: RoleWriter) -> None:
        self._roles = roles

    async def member_joined(self, envelope: Envelope) -> None:
        e = payload(envelope, community_events.MemberJoined, "community_id", "member_id")
        await self._roles.put(
            e.community_id,
            e.member_id,
            e.role or "member",
            envelope.time,
            region=e.region,
            programme=e.programme,
        )

    async def role_granted(self, envelope: Envelope) -> None:
        e = payload(envelope, community_events.RoleGranted, "community_id", "member_id", "role")
        await self._roles.put(
            e.community_id, e.member_id, e.role, envelope.time, region=e.region, programme=e.programme
        )

    async def role_revoked(self, envelope: Envelope) -> None:
        e = payload(envelope, community_events.RoleRevoked, "community_id", "member_id")
        await self._roles.put(
            e.community_id,
            e.member_id,
            e.current_role or "member",
            envelope.time,
            region=e.region,
            programme=e.programme,
        )

    async def member_left(self, envelope: Envelope) -> None:
        e = payload(envelope, community_events.MemberLeft, "community_id", "member_id")
        await self._roles.put(e.community_id, e.member_id, "", envelope.time)

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "guild.community.member_joined.v1": self.member_joined,
            "guild.community.role_granted.v1": self.role_granted,
            "guild.community.role_revoked.v1": self.role_revoked,
            "guild.community.member_left.v1": self.member_left,
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

    async def points_changed(self, envelope: Envelope) -> None:
        e = payload(envelope, reputation_events.PointsChanged, "entry_id", "community_id", "member_id")
        if self._live.applied(e.entry_id):
            return
        moment = e.time.ToDatetime(tzinfo=UTC) if e.HasField("time") else envelope.time
        await self._live.refresh(self._ledger, e.community_id, e.member_id, moment, e.entry_id)
