"""People use cases: profiles and follows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from guild_common.pagination import clamp_page_size
from guild_community.app.ports import PeopleRepository
from guild_community.domain.membership import valid_member_id
from guild_community.domain.people import (
    Follow,
    PeopleEvent,
    Profile,
    ProfilePatch,
    ProfileUpdated,
    apply_patch,
)


def _require_member(member_id: str, field_name: str = "member_id") -> None:
    if not valid_member_id(member_id):
        raise InvalidArgument(
            "invalid member id",
            violations=[FieldViolation(field_name, "1-128 printable characters without spaces")],
        )


class PeopleUseCases:
    def __init__(
        self, repository: PeopleRepository, *, regions: list[str], clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._repo = repository
        self._regions = regions
        self._clock = clock

    async def update_profile(self, caller: Principal, member_id: str, patch: ProfilePatch) -> Profile:
        if member_id and member_id != caller.subject:
            raise PermissionDenied(
                "people edit only their own profile",
                reason="NOT_OWN_PROFILE",
                metadata={"member_id": member_id},
            )
        now = self._clock()

        def change(current: Profile) -> tuple[Profile, list[PeopleEvent]]:
            updated = apply_patch(current, patch, self._regions, now)
            return updated, [ProfileUpdated(updated, patch.fields())]

        return await self._repo.update_profile(caller.subject, change)

    async def get_profile(self, caller: Principal, member_id: str) -> Profile:
        _require_member(member_id)
        profile = await self._repo.get_profile(member_id)
        if profile is None:
            raise NotFound(f"no profile for {member_id}", reason="PROFILE_NOT_FOUND")
        return profile

    async def follow(self, caller: Principal, member_id: str) -> Follow:
        _require_member(member_id)
        if member_id == caller.subject:
            raise InvalidArgument(
                "people cannot follow themselves", violations=[FieldViolation("member_id", "is the caller")]
            )
        follow = Follow(caller.subject, member_id, self._clock())
        if not await self._repo.add_follow(follow):
            stored = await self._repo.get_follow(caller.subject, member_id)
            if stored is not None:
                return stored
        return follow

    async def unfollow(self, caller: Principal, member_id: str) -> None:
        _require_member(member_id)
        follow = await self._repo.get_follow(caller.subject, member_id)
        if follow is None:
            raise NotFound(f"not following {member_id}", reason="FOLLOW_NOT_FOUND")
        await self._repo.remove_follow(follow, self._clock())

    async def list_followers(
        self, caller: Principal, member_id: str, page_size: int, page_token: str
    ) -> tuple[list[Follow], str]:
        _require_member(member_id)
        size = clamp_page_size(page_size, default=50, maximum=500)
        return await self._repo.list_follows(
            field="followee_id", member_id=member_id, page_size=size, page_token=page_token
        )

    async def list_following(
        self, caller: Principal, member_id: str, page_size: int, page_token: str
    ) -> tuple[list[Follow], str]:
        _require_member(member_id)
        size = clamp_page_size(page_size, default=50, maximum=500)
        return await self._repo.list_follows(
            field="follower_id", member_id=member_id, page_size=size, page_token=page_token
        )
