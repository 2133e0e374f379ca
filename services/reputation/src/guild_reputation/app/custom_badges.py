"""Custom badges: owners define them from rule templates; counted events award them; any award can be
exported as an Open Badges 3.0 credential."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from guild.events.v1 import content_events_pb2 as events
from guild_common.atomic import ConcurrentChange
from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import NotFound, PermissionDenied, Validator
from guild_common.events.consumer import EventHandler
from guild_common.events.envelope import Envelope
from guild_common.pagination import clamp_page_size
from guild_common.tags import normalise_tags
from guild_reputation.app.access import CommunityReaders
from guild_reputation.app.event_handlers import payload, region_programme
from guild_reputation.app.ports import BadgeStore, PostTags, RoleDirectory
from guild_reputation.app.visibility import Visibility
from guild_reputation.domain.badges import Award, Tier
from guild_reputation.domain.credential_signing import (
    SigningKey,
    issuer_profile,
    public_key_set,
    signed_credential,
)
from guild_reputation.domain.credentials import Issuer, open_badge_credential
from guild_reputation.domain.custom_badges import (
    CUSTOM,
    BadgeDefinition,
    Count,
    CountedEvent,
    TemplatePeriod,
    validate_definition,
)
from guild_reputation.domain.periods import Calendar
from guild_reputation.domain.rules import upvote_delta

OWNER = "owner"
# Times a repeatable rolling window is evaluated again after another award claimed it first.
CLAIM_ATTEMPTS = 16


class BadgeDefinitions(Protocol):
    async def create(self, definition: BadgeDefinition) -> BadgeDefinition:
        """Store the definition; the one stored before under its id when it exists."""
        ...

    async def get(self, definition_id: str) -> BadgeDefinition | None: ...

    async def archive(self, definition_id: str, at: datetime) -> BadgeDefinition | None: ...

    async def page(
        self, community_id: str, include_archived: bool, page_size: int, page_token: str
    ) -> tuple[list[BadgeDefinition], str]: ...

    async def active(self, community_id: str, event_type: CountedEvent) -> list[BadgeDefinition]: ...

    async def tick(self, definition_id: str, event_id: str, member_id: str, count: Count) -> None:
        """Count the event (by its natural key) for the definition once."""
        ...

    async def counted(self, definition_id: str, member_id: str, count: Count) -> int: ...

    async def last_award_day(self, definition_id: str, member_id: str) -> int | None:
        """The day number of the member's latest award of a repeatable rolling window."""
        ...

    async def awarded_on(self, definition_id: str, member_id: str, day: int) -> None:
        """Keep ``day`` as the day of the member's latest award unless a later one is kept."""
        ...

    async def claim_award_day(self, definition_id: str, member_id: str, read: int | None, day: int) -> bool:
        """Move the day of the member's latest award from ``read`` (None: none kept) to ``day``
        atomically; False when it is no longer ``read``."""
        ...


Tags = Callable[[], Awaitable[Sequence[str]]]


class CustomBadgeRules:
    """Counts events for the community's active definitions and awards what they earn.

    Each event is counted under a natural key (the post, or the pair of member and post), so
    redelivery, or undoing and redoing (a vote retracted and cast again), counts once.
    """

    def __init__(
        self, definitions: BadgeDefinitions, awards: BadgeStore, post_tags: PostTags, calendar: Calendar
    ) -> None:
        self._definitions = definitions
        self._awards = awards
        self._post_tags = post_tags
        self._calendar = calendar

    async def _counted(
        self,
        envelope: Envelope,
        kind: CountedEvent,
        community_id: str,
        member_id: str,
        key: str,
        tags: Tags,
    ) -> None:
        definitions = await self._definitions.active(community_id, kind)
        if not definitions:
            return
        known_tags = set(await tags()) if any(d.template.tag for d in definitions) else set()
        region, programme = region_programme(envelope)
        for definition in definitions:
            if definition.template.tag and definition.template.tag not in known_tags:
                continue
            count = definition.count(self._calendar, envelope.time)
            await self._definitions.tick(definition.id, key, member_id, count)
            if definition.rolls_over:
                await self._award_rolling(envelope, definition, member_id, count, region, programme)
                continue
            award_id = definition.award_id(member_id, count.award_key)
            if await self._awards.get(award_id) is not None:
                continue
            if (
                await self._definitions.counted(definition.id, member_id, count)
                < definition.template.threshold
            ):
                continue
            await self._awards.award(
                self._award(envelope, definition, member_id, award_id), region=region, programme=programme
            )

    async def _award_rolling(
        self,
        envelope: Envelope,
        definition: BadgeDefinition,
        member_id: str,
        count: Count,
        region: str,
        programme: str,
    ) -> None:
        """A repeatable rolling window counts the events since the day after the member's last award
        (within the window), so no event counts towards two awards.

        The award first claims the window: the day of the last award moves from the one read to this
        event's by a guarded update, so of two replicas evaluating the member at once one awards and the
        other reads again. An award claimed but not stored (a crash in between) is stored by the
        redelivery, which finds this day claimed and no award of it.
        """
        award_id = definition.award_id(member_id, count.award_key)
        threshold = definition.template.threshold
        award = self._award(envelope, definition, member_id, award_id)
        for _ in range(CLAIM_ATTEMPTS):
            if await self._awards.get(award_id) is not None:
                # Awarded on this event's day already (perhaps without the day kept, by a crash).
                await self._definitions.awarded_on(definition.id, member_id, count.day)
                return
            kept = await self._definitions.last_award_day(definition.id, member_id)
            if kept == count.day:
                await self._awards.award(award, region=region, programme=programme)
                return
            last = kept
            if last is None:
                # Awards stored before the last award's day was kept: the window counts from after them.
                earlier = [
                    await self._awards.get(definition.award_id(member_id, key))
                    for key in definition.legacy_award_keys(count.day)
                ]
                days = [definition.day_number(self._calendar, a.time) for a in earlier if a is not None]
                last = max(days) if days else None
            window = count if last is None else replace(count, window_start=max(count.window_start, last + 1))
            if await self._definitions.counted(definition.id, member_id, window) < threshold:
                return
            if await self._definitions.claim_award_day(definition.id, member_id, kept, count.day):
                await self._awards.award(award, region=region, programme=programme)
                return
        raise ConcurrentChange(f"the awards of {member_id[:64]} changed on each of {CLAIM_ATTEMPTS} tries")

    @staticmethod
    def _award(envelope: Envelope, definition: BadgeDefinition, member_id: str, award_id: str) -> Award:
        return Award(
            id=award_id,
            community_id=definition.community_id,
            member_id=member_id,
            badge=CUSTOM,
            tier=definition.tier,
            time=envelope.time,
            source_event_id=envelope.id,
            definition_id=definition.id,
            custom_title=definition.title,
            description=definition.description,
            criteria=definition.template.narrative(),
        )

    def _tags_of(self, post_id: str, question_id: str = "") -> Tags:
        async def tags() -> Sequence[str]:
            found = await self._post_tags.tags_of(post_id)
            if not found and question_id and question_id != post_id:
                found = await self._post_tags.tags_of(question_id)
            return found

        return tags

    @staticmethod
    def _given(tags: Sequence[str]) -> Tags:
        async def given() -> Sequence[str]:
            return normalise_tags(tags)

        return given

    async def question_asked(self, envelope: Envelope) -> None:
        e = payload(envelope, events.QuestionAsked, "question_id", "community_id", "author_id")
        await self._counted(
            envelope,
            CountedEvent.QUESTION_ASKED,
            e.community_id,
            e.author_id,
            e.question_id,
            self._given(e.tags),
        )

    async def answer_posted(self, envelope: Envelope) -> None:
        e = payload(envelope, events.AnswerPosted, "answer_id", "community_id", "author_id")
        if e.author_id == e.question_author_id:
            return
        tags = self._tags_of(e.question_id)
        await self._counted(
            envelope, CountedEvent.ANSWER_POSTED, e.community_id, e.author_id, e.answer_id, tags
        )

    async def answer_accepted(self, envelope: Envelope) -> None:
        e = payload(envelope, events.AnswerAccepted, "answer_id", "community_id", "answer_author_id")
        if e.answer_author_id == e.question_author_id:
            return
        tags = self._tags_of(e.answer_id, e.question_id)
        await self._counted(
            envelope, CountedEvent.ANSWER_ACCEPTED, e.community_id, e.answer_author_id, e.answer_id, tags
        )

    async def vote_changed(self, envelope: Envelope) -> None:
        e = payload(envelope, events.VoteChanged, "target_id", "community_id", "voter_id", "target_author_id")
        if e.voter_id == e.target_author_id or upvote_delta(e.previous_value, e.value) <= 0:
            return
        await self._counted(
            envelope,
            CountedEvent.UPVOTE_RECEIVED,
            e.community_id,
            e.target_author_id,
            f"{e.target_id}:{e.voter_id}",
            self._tags_of(e.target_id, e.question_id),
        )

    async def resource_shared(self, envelope: Envelope) -> None:
        e = payload(envelope, events.ResourceShared, "resource_id", "community_id", "author_id")
        await self._counted(
            envelope,
            CountedEvent.RESOURCE_SHARED,
            e.community_id,
            e.author_id,
            e.resource_id,
            self._given(e.tags),
        )

    async def comment_posted(self, envelope: Envelope) -> None:
        e = payload(envelope, events.CommentPosted, "comment_id", "community_id", "author_id")
        tags = self._tags_of(e.post_id, e.question_id)
        await self._counted(
            envelope, CountedEvent.COMMENT_POSTED, e.community_id, e.author_id, e.comment_id, tags
        )

    async def collection_published(self, envelope: Envelope) -> None:
        e = payload(envelope, events.CollectionPublished, "collection_id", "community_id", "curator_id")
        await self._counted(
            envelope,
            CountedEvent.COLLECTION_PUBLISHED,
            e.community_id,
            e.curator_id,
            e.collection_id,
            self._given([]),
        )

    async def collection_followed(self, envelope: Envelope) -> None:
        e = payload(
            envelope, events.CollectionFollowed, "collection_id", "community_id", "curator_id", "follower_id"
        )
        if e.follower_id == e.curator_id:
            return
        await self._counted(
            envelope,
            CountedEvent.COLLECTION_FOLLOWED,
            e.community_id,
            e.curator_id,
            f"{e.collection_id}:{e.follower_id}",
            self._given([]),
        )

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "guild.content.question_asked.v1": self.question_asked,
            "guild.content.answer_posted.v1": self.answer_posted,
            "guild.content.answer_accepted.v1": self.answer_accepted,
            "guild.content.vote_changed.v1": self.vote_changed,
            "guild.content.resource_shared.v1": self.resource_shared,
            "guild.content.comment_posted.v1": self.comment_posted,
            "guild.content.collection_published.v1": self.collection_published,
            "guild.content.collection_followed.v1": self.collection_followed,
        }


def _definition_id(community_id: str, creator: str, request_id: str) -> str:
    digest = hashlib.sha256(f"{community_id}\0{creator}\0{request_id}".encode()).hexdigest()
    return f"bd_{digest[:24]}"


class BadgeDefinitionUseCases:
    def __init__(
        self,
        definitions: BadgeDefinitions,
        awards: BadgeStore,
        roles: RoleDirectory,
        issuer: Issuer,
        readers: CommunityReaders,
        visibility: Visibility,
        *,
        signing_key: SigningKey | None = None,
    ) -> None:
        self._visibility = visibility
        self._definitions = definitions
        self._awards = awards
        self._roles = roles
        self._issuer = issuer
        self._readers = readers
        self._signing_key = signing_key

    async def _owner(self, caller: Principal, community_id: str, doing: str) -> None:
        if await self._roles.role(community_id, caller.subject) != OWNER:
            raise PermissionDenied(
                f"only the community's owners {doing}",
                reason="NOT_COMMUNITY_OWNER",
                metadata={"required_role": OWNER, "community_id": community_id},
            )

    async def create(
        self,
        caller: Principal,
        *,
        community_id: str,
        title: str,
        description: str,
        tier: Tier | None,
        event_type: str,
        threshold: int,
        period: TemplatePeriod | None,
        rolling_days: int,
        tag: str,
        repeatable: bool,
        request_id: str,
    ) -> BadgeDefinition:
        title, description, tier, template = validate_definition(
            community_id=community_id,
            title=title,
            description=description,
            tier=tier,
            event_type=event_type,
            threshold=threshold,
            period=period,
            rolling_days=rolling_days,
            tag=tag,
            request_id=request_id,
        )
        await self._visibility.require(caller, community_id)
        await self._owner(caller, community_id, "define its badges")
        definition = BadgeDefinition(
            id=_definition_id(community_id, caller.subject, request_id),
            community_id=community_id,
            title=title,
            description=description,
            tier=tier,
            template=template,
            repeatable=repeatable,
            created_by=caller.subject,
            create_time=utc_now(),
        )
        return await self._definitions.create(definition)

    async def page(
        self, caller: Principal, community_id: str, include_archived: bool, page_size: int, page_token: str
    ) -> tuple[list[BadgeDefinition], str]:
        check = Validator()
        check.require(bool(community_id), "community_id", "must not be empty")
        check.check()
        await self._readers.check(caller, community_id)
        size = clamp_page_size(page_size, 50, 100)
        return await self._definitions.page(community_id, include_archived, size, page_token)

    async def archive(self, caller: Principal, definition_id: str) -> BadgeDefinition:
        check = Validator()
        check.require(bool(definition_id), "definition_id", "must not be empty")
        check.check()
        stored = await self._definitions.get(definition_id)
        if stored is None:
            raise NotFound(f"no badge definition {definition_id}", reason="BADGE_DEFINITION_NOT_FOUND")
        if not await self._visibility.may_see(caller, stored.community_id):
            raise NotFound(f"no badge definition {definition_id}", reason="BADGE_DEFINITION_NOT_FOUND")
        await self._owner(caller, stored.community_id, "archive its badges")
        archived = await self._definitions.archive(definition_id, utc_now())
        assert archived is not None
        return archived

    async def export(self, caller: Principal, award_id: str) -> tuple[str, str]:
        """The award as an Open Badges 3.0 credential: JSON, and a signed VC-JWT ("" without a key)."""
        check = Validator()
        check.require(bool(award_id), "award_id", "must not be empty")
        check.check()
        award = await self._awards.get(award_id)
        if award is None:
            raise NotFound(f"no award {award_id}", reason="AWARD_NOT_FOUND")
        if not caller.is_service and caller.subject != award.member_id:
            if not await self._visibility.may_see(caller, award.community_id):
                raise NotFound(f"no award {award_id}", reason="AWARD_NOT_FOUND")
            await self._owner(caller, award.community_id, "and the badge's holder export it")
        credential = open_badge_credential(award, self._issuer)
        signed = ""
        if self._signing_key is not None:
            signed = signed_credential(credential, self._issuer, self._signing_key, utc_now())
        return json.dumps(credential, ensure_ascii=False, indent=2), signed

    def issuer(self) -> tuple[str, str]:
        """The issuer's Open Badges Profile and the key set its credentials verify against, as JSON."""
        return (
            json.dumps(issuer_profile(self._issuer), ensure_ascii=False),
            json.dumps(public_key_set(self._signing_key)),
        )
