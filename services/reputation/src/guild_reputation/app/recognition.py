"""Recognition: read models kept from content and community events, and contribution summaries."""

from __future__ import annotations

from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import NotFound, PermissionDenied, Validator
from guild_common.mongo import Document
from guild_reputation.app.ports import RecognitionStore, RoleDirectory
from guild_reputation.app.visibility import Visibility
from guild_reputation.domain.insights import PostKind
from guild_reputation.domain.recognition import (
    DEFAULT_SPAN,
    ContributionSummary,
    roles_held,
    top_tags,
)

REQUEST_ID_MAX = 100


def _ids(posts: list[Document], kind: PostKind) -> list[str]:
    prefix = f"{kind.value}:"
    return [str(doc["_id"])[len(prefix) :] for doc in posts if doc["kind"] == kind.value]


class RecognitionUseCases:
    def __init__(self, store: RecognitionStore, roles: RoleDirectory, visibility: Visibility) -> None:
        self._store = store
        self._roles = roles
        self._visibility = visibility

    async def _may_read(self, caller: Principal, member_id: str, memberships: dict[str, str]) -> None:
        if caller.subject == member_id:
            return
        mine = await self._store.memberships(caller.subject)
        if any(mine.get(community) == "owner" for community in memberships):
            return
        raise PermissionDenied(
            "only the member and the owners of their communities read their contributions",
            reason="NOT_OWNER_OF_MEMBERS_COMMUNITY",
            metadata={"required_role": "owner", "member_id": member_id},
        )

    async def _summary(
        self,
        caller: Principal,
        member_id: str,
        start: datetime,
        end: datetime,
        memberships: dict[str, str],
    ) -> ContributionSummary:
        """The member's contributions; for anyone but the member or a service, only those made in
        communities the caller may see (``visibility``)."""
        s = self._store
        posts = await s.posts(member_id, start, end)
        badges = await s.badges(member_id, start, end)
        changes = await s.role_changes(member_id, end)
        unseen: frozenset[str] = frozenset()
        if not caller.is_service and caller.subject != member_id:
            unseen = await self._visibility.unseen_of(
                caller,
                {
                    *memberships,
                    *(str(doc["community_id"]) for doc in posts),
                    *(a.community_id for a in badges),
                    *(c.community_id for c in changes),
                    *await s.curated_in(member_id, start, end),
                },
            )
            memberships = {c: r for c, r in memberships.items() if c not in unseen}
            posts = [doc for doc in posts if str(doc["community_id"]) not in unseen]
            badges = [a for a in badges if a.community_id not in unseen]
            changes = [c for c in changes if c.community_id not in unseen]
        answers = _ids(posts, PostKind.ANSWER)
        resources = _ids(posts, PostKind.RESOURCE)
        average, ratings = await s.ratings(resources)
        questions = sorted({str(doc["question_id"]) for doc in posts if doc.get("question_id")})
        communities = sorted({*memberships, *(str(doc["community_id"]) for doc in posts)})
        return ContributionSummary(
            member_id=member_id,
            start=start,
            end=end,
            questions=len(_ids(posts, PostKind.QUESTION)),
            answers=len(answers),
            accepted_answers=await s.accepted(answers),
            comments=len(_ids(posts, PostKind.COMMENT)),
            resources_shared=len(resources),
            resource_average_rating=average,
            resource_ratings=ratings,
            badges=badges,
            top_tags=top_tags(await s.question_tags(questions)),
            community_ids=communities,
            roles=roles_held(changes, start, end),
            collections_curated=await s.collections_curated(member_id, start, end, exclude=unseen),
        )

    @staticmethod
    def _span(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        end = end or utc_now()
        start = start or end - DEFAULT_SPAN
        check = Validator()
        check.require(start < end, "start_time", "must be before end_time")
        check.check()
        return start, end

    async def summary(
        self, caller: Principal, member_id: str, start: datetime | None, end: datetime | None
    ) -> ContributionSummary:
        member_id = member_id or caller.subject
        start, end = self._span(start, end)
        memberships = await self._store.memberships(member_id)
        if not caller.is_service:
            await self._may_read(caller, member_id, memberships)
        summary = await self._summary(caller, member_id, start, end, memberships)
        if caller.subject != member_id and not summary.community_ids and not summary.roles:
            raise NotFound(f"nothing is known of {member_id}", reason="MEMBER_NOT_FOUND")
        return summary

    async def request(
        self,
        caller: Principal,
        member_id: str,
        start: datetime | None,
        end: datetime | None,
        request_id: str,
    ) -> tuple[str, ContributionSummary]:
        member_id = member_id or caller.subject
        check = Validator()
        check.require(
            0 < len(request_id) <= REQUEST_ID_MAX, "request_id", f"1 to {REQUEST_ID_MAX} characters"
        )
        check.check()
        start, end = self._span(start, end)
        memberships = await self._store.memberships(member_id)
        await self._may_read(caller, member_id, memberships)
        summary = await self._summary(caller, member_id, start, end, memberships)
        summary_id = f"{member_id}:{caller.subject}:{request_id}"
        # Routed as the first of the member's communities is.
        first = min(memberships, default="")
        region, programme = await self._roles.routing(first, member_id) if first else ("unknown", "unknown")
        await self._store.issue(summary_id, summary, caller.subject, region, programme)
        return summary_id, summary
