"""The insight read models' ports (pilot comparisons read them too)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from guild_reputation.domain.insights import PostKind, QuestionFigures, Scope
from guild_reputation.domain.pilot import PilotControl


class InsightsStore(Protocol):
    async def member_joined(
        self, community_id: str, member_id: str, region: str, programme: str, at: datetime
    ) -> None: ...

    async def member_left(
        self, community_id: str, member_id: str, region: str, programme: str, at: datetime
    ) -> None: ...

    async def active(
        self, community_id: str, member_id: str, region: str, programme: str, at: datetime
    ) -> None: ...

    async def posted(
        self,
        post_id: str,
        kind: PostKind,
        community_id: str,
        author_id: str,
        region: str,
        programme: str,
        at: datetime,
        question_id: str = "",
    ) -> None: ...

    async def question_asked(
        self,
        question_id: str,
        community_id: str,
        region: str,
        programme: str,
        at: datetime,
        tags: list[str] | None = None,
    ) -> None: ...

    async def question_answered(
        self, question_id: str, community_id: str, region: str, programme: str, at: datetime
    ) -> None: ...

    async def known_community(self, community_id: str) -> bool: ...

    async def members(
        self, scope: Scope, scope_id: str, at: datetime, *, exclude: frozenset[str] = ...
    ) -> int: ...

    async def active_members(
        self,
        scope: Scope,
        scope_id: str,
        until: datetime,
        window: timedelta,
        *,
        exclude: frozenset[str] = ...,
    ) -> int: ...

    async def contributors(
        self,
        scope: Scope,
        scope_id: str,
        since: datetime,
        until: datetime,
        *,
        exclude: frozenset[str] = ...,
    ) -> int: ...

    async def posts(
        self,
        scope: Scope,
        scope_id: str,
        since: datetime,
        until: datetime,
        *,
        exclude: frozenset[str] = ...,
    ) -> dict[PostKind, int]: ...

    async def top_contributors(
        self,
        scope: Scope,
        scope_id: str,
        since: datetime,
        until: datetime,
        limit: int,
        *,
        exclude: frozenset[str] = ...,
    ) -> list[tuple[str, int]]: ...

    async def questions(
        self,
        scope: Scope,
        scope_id: str,
        since: datetime,
        until: datetime,
        *,
        exclude: frozenset[str] = ...,
    ) -> QuestionFigures: ...

    async def new_starters(
        self, scope: Scope, scope_id: str, at: datetime, *, exclude: frozenset[str] = ...
    ) -> tuple[int, int]: ...

    async def starters_asking_soon(
        self, community_id: str, since: datetime, until: datetime, within: timedelta
    ) -> tuple[int, int]: ...


class PilotStore(Protocol):
    async def set_control(self, control: PilotControl) -> None: ...

    async def control(self, community_id: str) -> PilotControl | None: ...

    async def members_at(self, community_id: str, at: datetime) -> set[str]: ...

    async def active_in(self, community_id: str, since: datetime, until: datetime) -> set[str]: ...

    async def active_among(
        self, member_ids: Sequence[str], since: datetime, until: datetime, exclude: frozenset[str]
    ) -> set[str]: ...

    async def answer_seconds(
        self, community_id: str, since: datetime, until: datetime
    ) -> list[float | None]: ...

    async def answer_seconds_by(
        self, member_ids: Sequence[str], since: datetime, until: datetime, exclude: frozenset[str]
    ) -> list[float | None]: ...
