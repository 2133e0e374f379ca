"""The ContentService gRPC servicer: thin, mapping requests to use cases."""

from __future__ import annotations

from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import content_service_pb2_grpc as api_grpc
from guild.content.v1 import question_pb2 as pb
from guild.content.v1 import resource_pb2 as resource_pb
from guild_common.auth import current_principal
from guild_content.app.ports import SearchHit
from guild_content.app.use_cases import ContentUseCases
from guild_content.domain.model import Answer, Comment, Question, RatingSummary, Resource, Revision, Text


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def question_to_pb(q: Question) -> pb.Question:
    return pb.Question(
        id=q.id,
        community_id=q.community_id,
        author_id=q.author_id,
        title=q.title,
        body=q.body,
        tags=q.tags,
        create_time=_ts(q.create_time),
        answer_count=q.answer_count,
        accepted_answer_id=q.accepted_answer_id,
        score=q.score,
        update_time=_ts(q.update_time) if q.update_time else None,
    )


def answer_to_pb(a: Answer, accepted_answer_id: str) -> pb.Answer:
    return pb.Answer(
        id=a.id,
        question_id=a.question_id,
        community_id=a.community_id,
        author_id=a.author_id,
        body=a.body,
        create_time=_ts(a.create_time),
        accepted=a.id == accepted_answer_id,
        score=a.score,
        update_time=_ts(a.update_time) if a.update_time else None,
    )


def comment_to_pb(c: Comment) -> pb.Comment:
    return pb.Comment(
        id=c.id,
        post_id=c.post_id,
        post_kind=c.post_kind,
        question_id=c.question_id,
        community_id=c.community_id,
        author_id=c.author_id,
        body=c.body,
        create_time=_ts(c.create_time),
        update_time=_ts(c.update_time) if c.update_time else None,
    )


def revision_to_pb(r: Revision) -> pb.Revision:
    return pb.Revision(
        post_id=r.post_id,
        revision=r.number,
        editor_id=r.editor_id,
        edit_time=_ts(r.edit_time),
        title=r.text.title,
        body=r.text.body,
        tags=r.text.tags,
    )


_FLAG_REASON = {
    api.FLAG_REASON_SPAM: "spam",
    api.FLAG_REASON_OFFENSIVE: "offensive",
    api.FLAG_REASON_OFF_TOPIC: "off_topic",
    api.FLAG_REASON_OTHER: "other",
}
_ACTION = {
    api.MODERATION_ACTION_HIDE: "hide",
    api.MODERATION_ACTION_RESTORE: "restore",
    api.MODERATION_ACTION_LOCK: "lock",
    api.MODERATION_ACTION_UNLOCK: "unlock",
    api.MODERATION_ACTION_DELETE: "delete",
}
_ANSWERED = {api.ANSWERED_FILTER_ANSWERED: True, api.ANSWERED_FILTER_UNANSWERED: False}
_VOTE_VALUE = {pb.VOTE_DIRECTION_UP: 1, pb.VOTE_DIRECTION_DOWN: -1}


class ContentServicer(api_grpc.ContentServiceServicer):
    def __init__(self, use_cases: ContentUseCases) -> None:
        self._uc = use_cases

    async def AskQuestion(
        self, request: api.AskQuestionRequest, context: grpc.aio.ServicerContext
    ) -> api.AskQuestionResponse:
        question = await self._uc.ask(
            current_principal(),
            request.community_id,
            request.title,
            request.body,
            list(request.tags),
            request.request_id,
        )
        return api.AskQuestionResponse(question=question_to_pb(question))

    async def AnswerQuestion(
        self, request: api.AnswerQuestionRequest, context: grpc.aio.ServicerContext
    ) -> api.AnswerQuestionResponse:
        answer = await self._uc.answer(
            current_principal(), request.question_id, request.body, request.request_id
        )
        return api.AnswerQuestionResponse(answer=answer_to_pb(answer, ""))

    async def AcceptAnswer(
        self, request: api.AcceptAnswerRequest, context: grpc.aio.ServicerContext
    ) -> api.AcceptAnswerResponse:
        question = await self._uc.accept(current_principal(), request.question_id, request.answer_id)
        return api.AcceptAnswerResponse(question=question_to_pb(question))

    async def GetQuestion(
        self, request: api.GetQuestionRequest, context: grpc.aio.ServicerContext
    ) -> api.GetQuestionResponse:
        question, answers = await self._uc.get_question(
            current_principal(), request.question_id, request.answer_limit
        )
        return api.GetQuestionResponse(
            question=question_to_pb(question),
            answers=[answer_to_pb(a, question.accepted_answer_id) for a in answers],
        )

    async def ListQuestions(
        self, request: api.ListQuestionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListQuestionsResponse:
        page = await self._uc.list_questions(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListQuestionsResponse(
            questions=[question_to_pb(q) for q in page.questions], next_page_token=page.next_token
        )

    async def CastVote(
        self, request: api.CastVoteRequest, context: grpc.aio.ServicerContext
    ) -> api.CastVoteResponse:
        value = _VOTE_VALUE.get(request.direction, 2)
        target, score = await self._uc.vote(current_principal(), request.target_id, value)
        return api.CastVoteResponse(
            target_id=target.id, target_kind=target.kind, direction=request.direction, score=score
        )

    async def RetractVote(
        self, request: api.RetractVoteRequest, context: grpc.aio.ServicerContext
    ) -> api.RetractVoteResponse:
        target, score = await self._uc.vote(current_principal(), request.target_id, 0)
        return api.RetractVoteResponse(target_id=target.id, target_kind=target.kind, score=score)

    async def AddComment(
        self, request: api.AddCommentRequest, context: grpc.aio.ServicerContext
    ) -> api.AddCommentResponse:
        comment = await self._uc.add_comment(
            current_principal(), request.post_id, request.body, request.request_id
        )
        return api.AddCommentResponse(comment=comment_to_pb(comment))

    async def ListComments(
        self, request: api.ListCommentsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListCommentsResponse:
        page = await self._uc.list_comments(
            current_principal(), request.post_id, request.page_size, request.page_token
        )
        return api.ListCommentsResponse(
            comments=[comment_to_pb(c) for c in page.comments], next_page_token=page.next_token
        )

    async def EditPost(
        self, request: api.EditPostRequest, context: grpc.aio.ServicerContext
    ) -> api.EditPostResponse:
        post, revision = await self._uc.edit(
            current_principal(),
            request.post_id,
            Text(request.title, request.body, list(request.tags)),
            list(request.update_mask.paths),
        )
        response = api.EditPostResponse(revision=revision)
        match post:
            case Question():
                response.question.CopyFrom(question_to_pb(post))
            case Answer():
                accepted = await self._uc.accepted_answer_id(post.question_id)
                response.answer.CopyFrom(answer_to_pb(post, accepted))
            case Comment():
                response.comment.CopyFrom(comment_to_pb(post))
        return response

    async def ListRevisions(
        self, request: api.ListRevisionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListRevisionsResponse:
        page = await self._uc.list_revisions(
            current_principal(), request.post_id, request.page_size, request.page_token
        )
        return api.ListRevisionsResponse(
            revisions=[revision_to_pb(r) for r in page.revisions], next_page_token=page.next_token
        )

    async def DeletePost(
        self, request: api.DeletePostRequest, context: grpc.aio.ServicerContext
    ) -> api.DeletePostResponse:
        ref = await self._uc.delete(current_principal(), request.post_id, request.reason)
        return api.DeletePostResponse(post_id=ref.id, kind=ref.kind)

    async def ListTags(
        self, request: api.ListTagsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListTagsResponse:
        page = await self._uc.list_tags(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListTagsResponse(
            tags=[pb.TagCount(tag=tag, count=count) for tag, count in page.tags],
            next_page_token=page.next_token,
        )

    async def SearchQuestions(
        self, request: api.SearchQuestionsRequest, context: grpc.aio.ServicerContext
    ) -> api.SearchQuestionsResponse:
        page = await self._uc.search(
            current_principal(),
            request.query,
            request.community_id,
            request.tag,
            _ANSWERED.get(request.answered),
            request.page_size,
            request.page_token,
        )
        return api.SearchQuestionsResponse(
            hits=[_hit_to_pb(h) for h in page.hits], next_page_token=page.next_token
        )

    async def FindSimilarQuestions(
        self, request: api.FindSimilarQuestionsRequest, context: grpc.aio.ServicerContext
    ) -> api.FindSimilarQuestionsResponse:
        hits = await self._uc.similar(current_principal(), request.community_id, request.title, request.limit)
        return api.FindSimilarQuestionsResponse(hits=[_hit_to_pb(h) for h in hits])

    async def FlagPost(
        self, request: api.FlagPostRequest, context: grpc.aio.ServicerContext
    ) -> api.FlagPostResponse:
        count, hidden = await self._uc.flag(
            current_principal(), request.post_id, _FLAG_REASON.get(request.reason, ""), request.note
        )
        return api.FlagPostResponse(post_id=request.post_id, flag_count=count, hidden=hidden)

    async def ListModerationQueue(
        self, request: api.ListModerationQueueRequest, context: grpc.aio.ServicerContext
    ) -> api.ListModerationQueueResponse:
        page = await self._uc.moderation_queue(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListModerationQueueResponse(
            items=[
                api.ModerationQueueItem(
                    post_id=i.post.id,
                    kind=i.post.kind,
                    community_id=i.post.community_id,
                    author_id=i.post.author_id,
                    excerpt=i.excerpt,
                    flag_count=i.flag_count,
                    reasons=i.reasons,
                    hidden=i.hidden,
                    queue_time=_ts(i.queue_time),
                )
                for i in page.items
            ],
            next_page_token=page.next_token,
        )

    async def ModeratePost(
        self, request: api.ModeratePostRequest, context: grpc.aio.ServicerContext
    ) -> api.ModeratePostResponse:
        post = await self._uc.moderate(
            current_principal(), request.post_id, _ACTION.get(request.action, ""), request.reason
        )
        return api.ModeratePostResponse(
            post_id=post.id, kind=post.kind, hidden=post.hidden, locked=post.locked, deleted=post.deleted
        )

    async def ListModerationLog(
        self, request: api.ListModerationLogRequest, context: grpc.aio.ServicerContext
    ) -> api.ListModerationLogResponse:
        page = await self._uc.moderation_log(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListModerationLogResponse(
            entries=[
                api.ModerationLogEntry(
                    id=e.id,
                    post_id=e.post.id,
                    kind=e.post.kind,
                    community_id=e.post.community_id,
                    action=e.action,
                    actor_id=e.actor_id,
                    reason=e.reason,
                    time=_ts(e.time),
                )
                for e in page.entries
            ],
            next_page_token=page.next_token,
        )

    async def ShareResource(
        self, request: api.ShareResourceRequest, context: grpc.aio.ServicerContext
    ) -> api.ShareResourceResponse:
        resource, existing = await self._uc.share_resource(
            current_principal(),
            request.community_id,
            request.url,
            request.title,
            request.summary,
            request.media_type,
            list(request.tags),
            request.request_id,
        )
        return api.ShareResourceResponse(resource=resource_to_pb(resource), already_shared=existing)

    async def GetResource(
        self, request: api.GetResourceRequest, context: grpc.aio.ServicerContext
    ) -> api.GetResourceResponse:
        resource = await self._uc.get_resource(current_principal(), request.resource_id)
        return api.GetResourceResponse(resource=resource_to_pb(resource))

    async def ListResources(
        self, request: api.ListResourcesRequest, context: grpc.aio.ServicerContext
    ) -> api.ListResourcesResponse:
        page = await self._uc.list_resources(
            current_principal(),
            request.community_id,
            request.order == resource_pb.RESOURCE_ORDER_TOP_RATED,
            request.page_size,
            request.page_token,
        )
        return api.ListResourcesResponse(
            resources=[resource_to_pb(r) for r in page.resources], next_page_token=page.next_token
        )

    async def RateItem(
        self, request: api.RateItemRequest, context: grpc.aio.ServicerContext
    ) -> api.RateItemResponse:
        previous, rating = await self._uc.rate(
            current_principal(), request.item_id, request.stars, request.review
        )
        return api.RateItemResponse(rating=rating_to_pb(rating), previous_stars=previous)

    async def ListReviews(
        self, request: api.ListReviewsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListReviewsResponse:
        page = await self._uc.list_reviews(
            current_principal(), request.item_id, request.page_size, request.page_token
        )
        return api.ListReviewsResponse(
            reviews=[
                resource_pb.Review(
                    item_id=r.item_id,
                    rater_id=r.rater_id,
                    stars=r.stars,
                    review=r.review,
                    rate_time=_ts(r.rate_time),
                )
                for r in page.reviews
            ],
            next_page_token=page.next_token,
        )

    async def MarkOutdated(
        self, request: api.MarkOutdatedRequest, context: grpc.aio.ServicerContext
    ) -> api.MarkOutdatedResponse:
        count = await self._uc.mark_outdated(current_principal(), request.resource_id)
        return api.MarkOutdatedResponse(resource_id=request.resource_id, outdated_count=count)

    async def ListOutdatedResources(
        self, request: api.ListOutdatedResourcesRequest, context: grpc.aio.ServicerContext
    ) -> api.ListOutdatedResourcesResponse:
        page = await self._uc.list_outdated(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListOutdatedResourcesResponse(
            resources=[resource_to_pb(r) for r in page.resources], next_page_token=page.next_token
        )

    async def ListUnansweredQuestions(
        self, request: api.ListUnansweredQuestionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListUnansweredQuestionsResponse:
        items, next_token = await self._uc.unanswered(
            current_principal(),
            request.community_id,
            request.min_age_minutes,
            request.page_size,
            request.page_token,
        )
        return api.ListUnansweredQuestionsResponse(
            items=[
                api.UnansweredQuestion(question=question_to_pb(q), similar=[_hit_to_pb(h) for h in hits])
                for q, hits in items
            ],
            next_page_token=next_token,
        )


def rating_to_pb(rating: RatingSummary) -> resource_pb.RatingSummary:
    return resource_pb.RatingSummary(
        average=rating.average, count=rating.count, distribution=list(rating.distribution)
    )


def resource_to_pb(r: Resource) -> resource_pb.Resource:
    return resource_pb.Resource(
        id=r.id,
        community_id=r.community_id,
        author_id=r.author_id,
        url=r.url,
        title=r.title,
        summary=r.summary,
        media_type=r.media_type,
        tags=r.tags,
        create_time=_ts(r.create_time),
        rating=rating_to_pb(r.rating),
        outdated_count=r.outdated_count,
    )


def _hit_to_pb(hit: SearchHit) -> api.SearchHit:
    return api.SearchHit(
        question=question_to_pb(hit.question), relevance=hit.relevance, matched_terms=hit.matched_terms
    )
