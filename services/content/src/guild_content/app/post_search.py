"""Search: posts of every kind and resources matching a query, and questions like a draft title."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from guild_common.auth import Principal
from guild_common.errors import FieldViolation, InvalidArgument, Validator
from guild_common.pagination import Page, clamp_page_size
from guild_common.tags import normalise_tags
from guild_content.app.access import PostAccess, require
from guild_content.app.concurrently import checked
from guild_content.app.ports import (
    MembershipDirectory,
    PostHit,
    QuestionRepository,
    ResourceRepository,
    SearchHit,
)
from guild_content.app.search import Ranked, after_token, next_token, read_candidates, wanted_by
from guild_content.domain.posts import POST_KINDS
from guild_content.domain.search import QUERY_TERMS_MAX, TERM_CANDIDATES_MAX, relevance, terms

# Kinds a search for posts covers: every kind of post, and shared resources.
SEARCH_KINDS = (*POST_KINDS, "resource")


class SearchUseCases(PostAccess):
    def __init__(
        self, repository: QuestionRepository, directory: MembershipDirectory, resources: ResourceRepository
    ) -> None:
        super().__init__(repository, directory)
        self._resources = resources

    async def search(
        self,
        caller: Principal,
        query: str,
        community_id: str,
        tag: str,
        answered: bool | None,
        page_size: int,
        page_token: str,
    ) -> Page[SearchHit]:
        """Questions matching the query, most relevant first (then newest), in the caller's communities.

        Pages continue after the last hit's (relevance, time, id), so a page token stays valid while
        questions are added and ranks never repeat or skip a hit that did not change.
        """
        size = clamp_page_size(page_size, default=20, maximum=50)
        wanted = query_terms(query, "query")
        tag_filter = normalise_tags([tag])[0] if tag.strip() else ""

        def rank(communities: list[str]) -> Awaitable[list[Ranked]]:
            keep = wanted_by(("question",), tag_filter, answered)
            return read_candidates(
                self._repo, communities, wanted, keep, needed=size + 1, page_token=page_token
            )

        ranked = await self._in_searched(caller, community_id, rank)
        page = ranked[:size]
        posts = await self._repo.visible_posts([r.id for r in page])
        hits = [SearchHit(posts[r.id].question, r.relevance, r.matched) for r in page if r.id in posts]
        return Page(hits, next_token(ranked, size))

    async def search_posts(
        self,
        caller: Principal,
        query: str,
        community_id: str,
        kind: str,
        tag: str,
        answered: bool | None,
        page_size: int,
        page_token: str,
    ) -> Page[PostHit]:
        """Posts of every kind and resources matching the query, most relevant first (then newest).

        ``answered`` (answered or not) keeps questions only. Pages continue after the last hit's
        (relevance, time, id), as for questions.
        """
        size = clamp_page_size(page_size, default=20, maximum=50)
        wanted = query_terms(query, "query")
        check = Validator()
        check.require(not kind or kind in SEARCH_KINDS, "kind", "empty or one of " + ", ".join(SEARCH_KINDS))
        check.require(answered is None or kind in ("", "question"), "answered", "applies to questions only")
        check.check()
        communities = await self._searched(caller, community_id)
        if not communities:
            return Page([], "")
        tag_filter = normalise_tags([tag])[0] if tag.strip() else ""
        kinds = ("question",) if answered is not None else (kind,) if kind else SEARCH_KINDS
        post_kinds = tuple(k for k in kinds if k in POST_KINDS)
        ranked: list[Ranked] = []
        if post_kinds:
            ranked += await read_candidates(
                self._repo,
                communities,
                wanted,
                wanted_by(post_kinds, tag_filter, answered),
                needed=size + 1,
                page_token=page_token,
            )
        resources = {}
        if "resource" in kinds:
            for found in await self._resources.search_candidates(
                communities, wanted, tag_filter, TERM_CANDIDATES_MAX
            ):
                score, matched = relevance(wanted, found.terms, found.title_terms)
                if score:
                    resource = found.resource
                    resources[resource.id] = resource
                    ranked.append(Ranked(score, matched, resource.id, resource.create_time, None))
        ranked = after_token(sorted(ranked, key=Ranked.key), page_token)
        page = ranked[:size]
        posts = await self._repo.visible_posts([r.id for r in page if r.entry is not None])
        hits = []
        for r in page:
            if r.entry is None:
                hits.append(PostHit(None, resources[r.id], r.relevance, r.matched))
            elif r.id in posts:
                hits.append(PostHit(posts[r.id].question, None, r.relevance, r.matched))
        return Page(hits, next_token(ranked, size))

    async def _in_searched(
        self, caller: Principal, community_id: str, read: Callable[[list[str]], Awaitable[list[Ranked]]]
    ) -> list[Ranked]:
        """``read`` of the communities a search looks in (see :meth:`_searched`); a named community is
        read while the caller's access to it is checked."""
        if not community_id:
            communities = await self._directory.communities_of(caller.subject)
            return await read(communities) if communities else []
        return await checked(self._readable(caller, community_id), read([community_id]))

    async def _searched(self, caller: Principal, community_id: str) -> list[str]:
        """The communities a search looks in: the one named (if the caller may read it), else the caller's."""
        if community_id:
            await self._readable(caller, community_id)
            return [community_id]
        return await self._directory.communities_of(caller.subject)

    async def similar(self, caller: Principal, community_id: str, title: str, limit: int) -> list[SearchHit]:
        """Questions of the community most like a draft title."""
        require(community_id=community_id)
        size = clamp_page_size(limit, default=5, maximum=20, field="limit")
        wanted = query_terms(title, "title")
        ranked = await checked(
            self._readable(caller, community_id),
            read_candidates(
                self._repo, [community_id], wanted, wanted_by(("question",), "", None), needed=size
            ),
        )
        best = ranked[:size]
        posts = await self._repo.visible_posts([r.id for r in best])
        return [SearchHit(posts[r.id].question, r.relevance, r.matched) for r in best if r.id in posts]


def query_terms(text: str, field: str) -> list[str]:
    wanted = terms(text)[:QUERY_TERMS_MAX]
    if not wanted:
        raise InvalidArgument(
            "nothing to search for",
            violations=[FieldViolation(field, "needs at least one word that is not a stop word")],
        )
    return wanted
