"""ContentService RPCs: search, similar questions and the unanswered queue."""

from __future__ import annotations

import grpc

from guild.content.v1 import content_service_pb2 as api
from guild_common.auth import current_principal
from guild_content.app.post_search import SearchUseCases
from guild_content.app.unanswered import UnansweredQueue
from guild_content.entrypoints.grpc.content_service_mapping import (
    ANSWERED,
    hit_to_pb,
    post_hit_to_pb,
    question_to_pb,
)


class SearchServicer:
    _search: SearchUseCases
    _unanswered: UnansweredQueue

    async def SearchQuestions(
        self, request: api.SearchQuestionsRequest, context: grpc.aio.ServicerContext
    ) -> api.SearchQuestionsResponse:
        page = await self._search.search(
            current_principal(),
            request.query,
            request.community_id,
            request.tag,
            ANSWERED.get(request.answered),
            request.page_size,
            request.page_token,
        )
        return api.SearchQuestionsResponse(
            hits=[hit_to_pb(h) for h in page.items], next_page_token=page.next_token
        )

    async def SearchPosts(
        self, request: api.SearchPostsRequest, context: grpc.aio.ServicerContext
    ) -> api.SearchPostsResponse:
        page = await self._search.search_posts(
            current_principal(),
            request.query,
            request.community_id,
            request.kind,
            request.tag,
            ANSWERED.get(request.answered),
            request.page_size,
            request.page_token,
        )
        return api.SearchPostsResponse(
            hits=[post_hit_to_pb(h) for h in page.items], next_page_token=page.next_token
        )

    async def FindSimilarQuestions(
        self, request: api.FindSimilarQuestionsRequest, context: grpc.aio.ServicerContext
    ) -> api.FindSimilarQuestionsResponse:
        hits = await self._search.similar(
            current_principal(), request.community_id, request.title, request.limit
        )
        return api.FindSimilarQuestionsResponse(hits=[hit_to_pb(h) for h in hits])

    async def ListUnansweredQuestions(
        self, request: api.ListUnansweredQuestionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListUnansweredQuestionsResponse:
        items, next_token = await self._unanswered.unanswered(
            current_principal(),
            request.community_id,
            request.min_age_minutes,
            request.page_size,
            request.page_token,
        )
        # Questions are often a hint of several on the page: each is converted once.
        hinted = {h.question.id: h.question for i in items for h in (*i.similar, *i.same_meaning)}
        converted = {question_id: question_to_pb(q) for question_id, q in hinted.items()}
        return api.ListUnansweredQuestionsResponse(
            items=[
                api.UnansweredQuestion(
                    question=question_to_pb(i.question),
                    similar=[hit_to_pb(h, converted[h.question.id]) for h in i.similar],
                    same_meaning=[hit_to_pb(h, converted[h.question.id]) for h in i.same_meaning],
                )
                for i in items
            ],
            next_page_token=next_token,
        )
