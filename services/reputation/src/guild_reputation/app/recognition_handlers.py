"""The recognition read models, kept from content and community events."""

from __future__ import annotations

from guild_common.events.inbound import Handler
from guild_reputation.app.ports import RecognitionStore
from guild_reputation.domain.integration_events import (
    AnswerAccepted,
    AnswerUnaccepted,
    CollectionPublished,
    ItemRated,
    MemberJoined,
    MemberLeft,
    RoleGranted,
    RoleRevoked,
)
from guild_reputation.domain.recognition import ANY_ROLE, RoleChange


class RecognitionHandlers:
    def __init__(self, store: RecognitionStore) -> None:
        self._store = store

    async def answer_accepted(self, e: AnswerAccepted) -> None:
        await self._store.acceptance(e.answer_id, e.answer_author_id, True, e.meta.time)

    async def answer_unaccepted(self, e: AnswerUnaccepted) -> None:
        await self._store.acceptance(e.answer_id, e.answer_author_id, False, e.meta.time)

    async def item_rated(self, e: ItemRated) -> None:
        await self._store.rated(e.item_id, e.author_id, e.average, e.count, e.meta.time)

    async def collection_published(self, e: CollectionPublished) -> None:
        await self._store.collection_published(e.collection_id, e.community_id, e.curator_id, e.meta.time)

    async def member_joined(self, e: MemberJoined) -> None:
        if e.role and e.role != "member":
            change = RoleChange(e.community_id, e.role, True, e.meta.time)
            await self._store.role_changed(e.meta.id, e.member_id, change)

    async def role_granted(self, e: RoleGranted) -> None:
        if e.previous_role and e.previous_role != e.role:
            ended = RoleChange(e.community_id, e.previous_role, False, e.meta.time)
            await self._store.role_changed(f"{e.meta.id}:previous", e.member_id, ended)
        await self._store.role_changed(
            e.meta.id, e.member_id, RoleChange(e.community_id, e.role, True, e.meta.time)
        )

    async def role_revoked(self, e: RoleRevoked) -> None:
        await self._store.role_changed(
            e.meta.id, e.member_id, RoleChange(e.community_id, e.role, False, e.meta.time)
        )

    async def member_left(self, e: MemberLeft) -> None:
        await self._store.role_changed(
            e.meta.id, e.member_id, RoleChange(e.community_id, ANY_ROLE, False, e.meta.time)
        )

    def handlers(self) -> dict[type, Handler]:
        return {
            AnswerAccepted: self.answer_accepted,
            AnswerUnaccepted: self.answer_unaccepted,
            ItemRated: self.item_rated,
            CollectionPublished: self.collection_published,
            MemberJoined: self.member_joined,
            RoleGranted: self.role_granted,
            RoleRevoked: self.role_revoked,
            MemberLeft: self.member_left,
        }
