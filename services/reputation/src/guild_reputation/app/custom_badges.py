"""Custom badges: owners define them from rule templates; counted events award them; any award can be
exported as an Open Badges 3.0 credential."""

from __future__ import annotations

import hashlib
import json

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import NotFound, PermissionDenied, Validator
from guild_common.pagination import Page, clamp_page_size
from guild_reputation.app.access import CommunityReaders
from guild_reputation.app.ports import BadgeDefinitions, BadgeStore, RoleDirectory
from guild_reputation.app.visibility import Visibility
from guild_reputation.domain.badges import Tier
from guild_reputation.domain.credential_signing import (
    SigningKey,
    issuer_profile,
    public_key_set,
    signed_credential,
)
from guild_reputation.domain.credentials import Issuer, open_badge_credential
from guild_reputation.domain.custom_badges import (
    BadgeDefinition,
    TemplatePeriod,
    validate_definition,
)

OWNER = "owner"


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
    ) -> Page[BadgeDefinition]:
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
