"""The ContentService gRPC servicer: thin, mapping requests to use cases."""

from __future__ import annotations

import grpc

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import content_service_pb2_grpc as api_grpc
from guild.content.v1 import curation_pb2 as curation_pb
from guild.content.v1 import feed_pb2, post_pb2
from guild.content.v1 import question_pb2 as pb
from guild.content.v1 import resource_pb2 as resource_pb
from guild_common.auth import current_principal
from guild_common.prototime import to_timestamp as _ts
from guild_content.app.curation import CurationUseCases
from guild_content.app.feeds import FeedUseCases
from guild_content.app.moderation import ModerationUseCases
from guild_content.app.ports import FeedEntry, PostHit, SearchHit
from guild_content.app.post_search import SearchUseCases
from guild_content.app.questions import QuestionUseCases
from guild_content.app.resources import ResourceUseCases
from guild_content.app.unanswered import UnansweredQueue
from guild_content.domain.curation import Collection, CollectionItem, Feature
from guild_content.domain.model import Answer, Comment, Question, RatingSummary, Resource, Revision, Text


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
        duplicate_of=q.duplicate_of,
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
    def __init__(
        self,
        questions: QuestionUseCases,
        search: SearchUseCases,
        unanswered: UnansweredQueue,
        moderation: ModerationUseCases,
        resources: ResourceUseCases,
        curation: CurationUseCases,
        feeds: FeedUseCases,
    ) -> None:
        self._questions = questions
        self._search = search
        self._unanswered = unanswered
        self._moderation = moderation
        self._resources = resources
        self._curation = curation
        self._feeds = feeds

    async def AskQuestion(
        self, request: api.AskQuestionRequest, context: grpc.aio.ServicerContext
    ) -> api.AskQuestionResponse:
        asked = await self._questions.ask_question(
            current_principal(),
            request.community_id,
            request.title,
            request.body,
            list(request.tags),
            request.request_id,
        )
        return api.AskQuestionResponse(
            question=question_to_pb(asked.question), similar=[_hit_to_pb(h) for h in asked.similar]
        )

    async def AnswerQuestion(
        self, request: api.AnswerQuestionRequest, context: grpc.aio.ServicerContext
    ) -> api.AnswerQuestionResponse:
        answer = await self._questions.answer(
            current_principal(), request.question_id, request.body, request.request_id
        )
        return api.AnswerQuestionResponse(answer=answer_to_pb(answer, ""))

    async def AcceptAnswer(
        self, request: api.AcceptAnswerRequest, context: grpc.aio.ServicerContext
    ) -> api.AcceptAnswerResponse:
        question = await self._questions.accept(current_principal(), request.question_id, request.answer_id)
        return api.AcceptAnswerResponse(question=question_to_pb(question))

    async def GetQuestion(
        self, request: api.GetQuestionRequest, context: grpc.aio.ServicerContext
    ) -> api.GetQuestionResponse:
        question, answers = await self._questions.get_question(
            current_principal(), request.question_id, request.answer_limit
        )
        return api.GetQuestionResponse(
            question=question_to_pb(question),
            answers=[answer_to_pb(a, question.accepted_answer_id) for a in answers],
        )

    async def ListQuestions(
        self, request: api.ListQuestionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListQuestionsResponse:
        page = await self._questions.list_questions(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListQuestionsResponse(
            questions=[question_to_pb(q) for q in page.questions], next_page_token=page.next_token
        )

    async def CastVote(
        self, request: api.CastVoteRequest, context: grpc.aio.ServicerContext
    ) -> api.CastVoteResponse:
        value = _VOTE_VALUE.get(request.direction, 2)
        target, score = await self._questions.vote(current_principal(), request.target_id, value)
        return api.CastVoteResponse(
            target_id=target.id, target_kind=target.kind, direction=request.direction, score=score
        )

    async def RetractVote(
        self, request: api.RetractVoteRequest, context: grpc.aio.ServicerContext
    ) -> api.RetractVoteResponse:
        target, score = await self._questions.vote(current_principal(), request.target_id, 0)
        return api.RetractVoteResponse(target_id=target.id, target_kind=target.kind, score=score)

    async def AddComment(
        self, request: api.AddCommentRequest, context: grpc.aio.ServicerContext
    ) -> api.AddCommentResponse:
        comment = await self._questions.add_comment(
            current_principal(), request.post_id, request.body, request.request_id
        )
        return api.AddCommentResponse(comment=comment_to_pb(comment))

    async def ListComments(
        self, request: api.ListCommentsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListCommentsResponse:
        page = await self._questions.list_comments(
            current_principal(), request.post_id, request.page_size, request.page_token
        )
        return api.ListCommentsResponse(
            comments=[comment_to_pb(c) for c in page.comments], next_page_token=page.next_token
        )

    async def EditPost(
        self, request: api.EditPostRequest, context: grpc.aio.ServicerContext
    ) -> api.EditPostResponse:
        post, revision = await self._questions.edit(
            current_principal(),
            request.post_id,
            Text(request.title, request.body, list(request.tags)),
            list(request.update_mask.paths),
        )
        response = api.EditPostResponse(revision=revision)
        match post:
            case Question() if post.kind != "question":
                response.topic.CopyFrom(post_to_pb(post))
            case Question():
                response.question.CopyFrom(question_to_pb(post))
            case Answer():
                accepted = await self._questions.accepted_answer_id(post.question_id)
                response.answer.CopyFrom(answer_to_pb(post, accepted))
            case Comment():
                response.comment.CopyFrom(comment_to_pb(post))
        return response

    async def ListRevisions(
        self, request: api.ListRevisionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListRevisionsResponse:
        page = await self._questions.list_revisions(
            current_principal(), request.post_id, request.page_size, request.page_token
        )
        return api.ListRevisionsResponse(
            revisions=[revision_to_pb(r) for r in page.revisions], next_page_token=page.next_token
        )

    async def DeletePost(
        self, request: api.DeletePostRequest, context: grpc.aio.ServicerContext
    ) -> api.DeletePostResponse:
        ref = await self._questions.delete(current_principal(), request.post_id, request.reason)
        return api.DeletePostResponse(post_id=ref.id, kind=ref.kind)

    async def ListTags(
        self, request: api.ListTagsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListTagsResponse:
        page = await self._questions.list_tags(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListTagsResponse(
            tags=[pb.TagCount(tag=tag, count=count) for tag, count in page.tags],
            next_page_token=page.next_token,
        )

    async def SearchQuestions(
        self, request: api.SearchQuestionsRequest, context: grpc.aio.ServicerContext
    ) -> api.SearchQuestionsResponse:
        page = await self._search.search(
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

    async def SearchPosts(
        self, request: api.SearchPostsRequest, context: grpc.aio.ServicerContext
    ) -> api.SearchPostsResponse:
        page = await self._search.search_posts(
            current_principal(),
            request.query,
            request.community_id,
            request.kind,
            request.tag,
            _ANSWERED.get(request.answered),
            request.page_size,
            request.page_token,
        )
        return api.SearchPostsResponse(
            hits=[_post_hit_to_pb(h) for h in page.hits], next_page_token=page.next_token
        )

    async def FindSimilarQuestions(
        self, request: api.FindSimilarQuestionsRequest, context: grpc.aio.ServicerContext
    ) -> api.FindSimilarQuestionsResponse:
        hits = await self._search.similar(
            current_principal(), request.community_id, request.title, request.limit
        )
        return api.FindSimilarQuestionsResponse(hits=[_hit_to_pb(h) for h in hits])

    async def FlagPost(
        self, request: api.FlagPostRequest, context: grpc.aio.ServicerContext
    ) -> api.FlagPostResponse:
        count, hidden = await self._moderation.flag(
            current_principal(), request.post_id, _FLAG_REASON.get(request.reason, ""), request.note
        )
        return api.FlagPostResponse(post_id=request.post_id, flag_count=count, hidden=hidden)

    async def ListModerationQueue(
        self, request: api.ListModerationQueueRequest, context: grpc.aio.ServicerContext
    ) -> api.ListModerationQueueResponse:
        page = await self._moderation.moderation_queue(
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
        post = await self._moderation.moderate(
            current_principal(), request.post_id, _ACTION.get(request.action, ""), request.reason
        )
        return api.ModeratePostResponse(
            post_id=post.id, kind=post.kind, hidden=post.hidden, locked=post.locked, deleted=post.deleted
        )

    async def ListModerationLog(
        self, request: api.ListModerationLogRequest, context: grpc.aio.ServicerContext
    ) -> api.ListModerationLogResponse:
        page = await self._moderation.moderation_log(
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
        resource, existing = await self._resources.share_resource(
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
        resource = await self._resources.get_resource(current_principal(), request.resource_id)
        return api.GetResourceResponse(resource=resource_to_pb(resource))

    async def ListResources(
        self, request: api.ListResourcesRequest, context: grpc.aio.ServicerContext
    ) -> api.ListResourcesResponse:
        page = await self._resources.list_resources(
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
        previous, rating = await self._resources.rate(
            current_principal(), request.item_id, request.stars, request.review
        )
        return api.RateItemResponse(rating=rating_to_pb(rating), previous_stars=previous)

    async def ListReviews(
        self, request: api.ListReviewsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListReviewsResponse:
        page = await self._resources.list_reviews(
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
        count = await self._resources.mark_outdated(current_principal(), request.resource_id)
        return api.MarkOutdatedResponse(resource_id=request.resource_id, outdated_count=count)

    async def ListOutdatedResources(
        self, request: api.ListOutdatedResourcesRequest, context: grpc.aio.ServicerContext
    ) -> api.ListOutdatedResourcesResponse:
        page = await self._resources.list_outdated(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListOutdatedResourcesResponse(
            resources=[resource_to_pb(r) for r in page.resources], next_page_token=page.next_token
        )

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
                    similar=[_hit_to_pb(h, converted[h.question.id]) for h in i.similar],
                    same_meaning=[_hit_to_pb(h, converted[h.question.id]) for h in i.same_meaning],
                )
                for i in items
            ],
            next_page_token=next_token,
        )

    async def CreateCollection(
        self, request: api.CreateCollectionRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateCollectionResponse:
        collection = await self._curation.create_collection(
            current_principal(), request.community_id, request.title, request.description, request.request_id
        )
        return api.CreateCollectionResponse(collection=collection_to_pb(collection))

    async def GetCollection(
        self, request: api.GetCollectionRequest, context: grpc.aio.ServicerContext
    ) -> api.GetCollectionResponse:
        collection, following = await self._curation.get_collection(
            current_principal(), request.collection_id
        )
        return api.GetCollectionResponse(collection=collection_to_pb(collection), following=following)

    async def ListCollections(
        self, request: api.ListCollectionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListCollectionsResponse:
        page = await self._curation.list_collections(
            current_principal(), request.community_id, request.drafts, request.page_size, request.page_token
        )
        return api.ListCollectionsResponse(
            collections=[collection_to_pb(c) for c in page.collections], next_page_token=page.next_token
        )

    async def AddCollectionItem(
        self, request: api.AddCollectionItemRequest, context: grpc.aio.ServicerContext
    ) -> api.AddCollectionItemResponse:
        collection, item = await self._curation.add_item(
            current_principal(),
            request.collection_id,
            post_id=request.post_id,
            url=request.url,
            title=request.title,
            note=request.note,
            position=request.position if request.HasField("position") else None,
            request_id=request.request_id,
        )
        return api.AddCollectionItemResponse(collection=collection_to_pb(collection), item=item_to_pb(item))

    async def RemoveCollectionItem(
        self, request: api.RemoveCollectionItemRequest, context: grpc.aio.ServicerContext
    ) -> api.RemoveCollectionItemResponse:
        collection = await self._curation.remove_item(
            current_principal(), request.collection_id, request.item_id
        )
        return api.RemoveCollectionItemResponse(collection=collection_to_pb(collection))

    async def ReorderCollectionItems(
        self, request: api.ReorderCollectionItemsRequest, context: grpc.aio.ServicerContext
    ) -> api.ReorderCollectionItemsResponse:
        collection = await self._curation.reorder(
            current_principal(), request.collection_id, list(request.item_ids)
        )
        return api.ReorderCollectionItemsResponse(collection=collection_to_pb(collection))

    async def PublishCollection(
        self, request: api.PublishCollectionRequest, context: grpc.aio.ServicerContext
    ) -> api.PublishCollectionResponse:
        collection = await self._curation.publish(current_principal(), request.collection_id)
        return api.PublishCollectionResponse(collection=collection_to_pb(collection))

    async def FollowCollection(
        self, request: api.FollowCollectionRequest, context: grpc.aio.ServicerContext
    ) -> api.FollowCollectionResponse:
        count = await self._curation.follow(current_principal(), request.collection_id, True)
        return api.FollowCollectionResponse(collection_id=request.collection_id, follower_count=count)

    async def UnfollowCollection(
        self, request: api.UnfollowCollectionRequest, context: grpc.aio.ServicerContext
    ) -> api.UnfollowCollectionResponse:
        count = await self._curation.follow(current_principal(), request.collection_id, False)
        return api.UnfollowCollectionResponse(collection_id=request.collection_id, follower_count=count)

    async def FeatureItem(
        self, request: api.FeatureItemRequest, context: grpc.aio.ServicerContext
    ) -> api.FeatureItemResponse:
        feature = await self._curation.feature(
            current_principal(), request.community_id, request.item_kind, request.item_id
        )
        return api.FeatureItemResponse(item=feature_to_pb(feature))

    async def UnfeatureItem(
        self, request: api.UnfeatureItemRequest, context: grpc.aio.ServicerContext
    ) -> api.UnfeatureItemResponse:
        await self._curation.unfeature(
            current_principal(), request.community_id, request.item_kind, request.item_id
        )
        return api.UnfeatureItemResponse()

    async def MarkDuplicate(
        self, request: api.MarkDuplicateRequest, context: grpc.aio.ServicerContext
    ) -> api.MarkDuplicateResponse:
        question = await self._curation.mark_duplicate(
            current_principal(), request.question_id, request.duplicate_of
        )
        return api.MarkDuplicateResponse(question=question_to_pb(question))

    async def UnmarkDuplicate(
        self, request: api.UnmarkDuplicateRequest, context: grpc.aio.ServicerContext
    ) -> api.UnmarkDuplicateResponse:
        question = await self._curation.unmark_duplicate(current_principal(), request.question_id)
        return api.UnmarkDuplicateResponse(question=question_to_pb(question))

    async def ListFeaturedItems(
        self, request: api.ListFeaturedItemsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListFeaturedItemsResponse:
        page = await self._curation.list_featured(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListFeaturedItemsResponse(
            items=[feature_to_pb(f) for f in page.items], next_page_token=page.next_token
        )

    async def CreatePost(
        self, request: api.CreatePostRequest, context: grpc.aio.ServicerContext
    ) -> api.CreatePostResponse:
        post = await self._questions.create_post(
            current_principal(),
            request.community_id,
            request.kind,
            request.title,
            request.body,
            list(request.tags),
            request.request_id,
        )
        return api.CreatePostResponse(post=post_to_pb(post))

    async def GetPost(
        self, request: api.GetPostRequest, context: grpc.aio.ServicerContext
    ) -> api.GetPostResponse:
        post = await self._questions.get_post(current_principal(), request.post_id)
        return api.GetPostResponse(post=post_to_pb(post))

    async def ListPosts(
        self, request: api.ListPostsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListPostsResponse:
        page = await self._questions.list_posts(
            current_principal(), request.community_id, request.kind, request.page_size, request.page_token
        )
        return api.ListPostsResponse(
            posts=[post_to_pb(p) for p in page.questions], next_page_token=page.next_token
        )

    async def ListCommunityFeed(
        self, request: api.ListCommunityFeedRequest, context: grpc.aio.ServicerContext
    ) -> api.ListCommunityFeedResponse:
        page = await self._feeds.community_feed(
            current_principal(),
            request.community_id,
            _FEED_ORDER.get(request.order, ""),
            request.page_size,
            request.page_token,
        )
        return api.ListCommunityFeedResponse(
            items=[feed_item_to_pb(e) for e in page.entries], next_page_token=page.next_token
        )

    async def ListPersonalFeed(
        self, request: api.ListPersonalFeedRequest, context: grpc.aio.ServicerContext
    ) -> api.ListPersonalFeedResponse:
        page = await self._feeds.personal_feed(current_principal(), request.page_size, request.page_token)
        return api.ListPersonalFeedResponse(
            items=[feed_item_to_pb(e) for e in page.entries], next_page_token=page.next_token
        )

    async def FollowTag(
        self, request: api.FollowTagRequest, context: grpc.aio.ServicerContext
    ) -> api.FollowTagResponse:
        return api.FollowTagResponse(tag=await self._feeds.follow_tag(current_principal(), request.tag))

    async def UnfollowTag(
        self, request: api.UnfollowTagRequest, context: grpc.aio.ServicerContext
    ) -> api.UnfollowTagResponse:
        return api.UnfollowTagResponse(tag=await self._feeds.unfollow_tag(current_principal(), request.tag))

    async def ListFollowedTags(
        self, request: api.ListFollowedTagsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListFollowedTagsResponse:
        page = await self._feeds.followed_tags(current_principal(), request.page_size, request.page_token)
        return api.ListFollowedTagsResponse(tags=page.tags, next_page_token=page.next_token)


_FEED_ORDER = {
    feed_pb2.FEED_ORDER_UNSPECIFIED: "newest",
    feed_pb2.FEED_ORDER_RECENT_ACTIVITY: "activity",
    feed_pb2.FEED_ORDER_TOP_WEEK: "top_week",
    feed_pb2.FEED_ORDER_TOP_MONTH: "top_month",
}


def feed_item_to_pb(entry: FeedEntry) -> feed_pb2.FeedItem:
    item = feed_pb2.FeedItem(activity_time=_ts(entry.activity_time))
    if entry.post is not None:
        item.post.CopyFrom(post_to_pb(entry.post))
    elif entry.resource is not None:
        item.resource.CopyFrom(resource_to_pb(entry.resource))
    return item


def post_to_pb(p: Question) -> post_pb2.Post:
    return post_pb2.Post(
        id=p.id,
        kind=p.kind,
        community_id=p.community_id,
        author_id=p.author_id,
        title=p.title,
        body=p.body,
        tags=p.tags,
        create_time=_ts(p.create_time),
        update_time=_ts(p.update_time) if p.update_time else None,
        score=p.score,
        answer_count=p.answer_count,
        accepted_answer_id=p.accepted_answer_id,
        hidden=p.hidden,
        locked=p.locked,
    )


def item_to_pb(i: CollectionItem) -> curation_pb.CollectionItem:
    return curation_pb.CollectionItem(
        id=i.id,
        kind=i.kind,
        post_id=i.post_id,
        url=i.url,
        title=i.title,
        note=i.note,
        position=i.position,
        add_time=_ts(i.add_time),
    )


def collection_to_pb(c: Collection) -> curation_pb.Collection:
    return curation_pb.Collection(
        id=c.id,
        community_id=c.community_id,
        curator_id=c.curator_id,
        title=c.title,
        description=c.description,
        items=[item_to_pb(i) for i in c.items],
        published=c.published,
        publish_time=_ts(c.publish_time) if c.publish_time else None,
        create_time=_ts(c.create_time),
        update_time=_ts(c.update_time) if c.update_time else None,
        follower_count=c.follower_count,
    )


def feature_to_pb(f: Feature) -> curation_pb.FeaturedItem:
    return curation_pb.FeaturedItem(
        community_id=f.community_id,
        item_kind=f.item_kind,
        item_id=f.item_id,
        title=f.title,
        author_id=f.author_id,
        featured_by=f.featured_by,
        feature_time=_ts(f.feature_time),
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


def _hit_to_pb(hit: SearchHit, question: pb.Question | None = None) -> api.SearchHit:
    """The hit; ``question``: its question converted already."""
    converted = question or question_to_pb(hit.question)
    return api.SearchHit(
        question=converted,
        relevance=hit.relevance,
        matched_terms=hit.matched_terms,
        similarity=hit.similarity,
    )


def _post_hit_to_pb(hit: PostHit) -> api.PostSearchHit:
    found = api.PostSearchHit(relevance=hit.relevance, matched_terms=hit.matched_terms)
    if hit.post is not None:
        found.post.CopyFrom(post_to_pb(hit.post))
    elif hit.resource is not None:
        found.resource.CopyFrom(resource_to_pb(hit.resource))
    return found
