"""ContentService RPCs: questions, answers, comments, votes, edits and the other kinds of post."""

from __future__ import annotations

import grpc

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import question_pb2 as pb
from guild_common.auth import current_principal
from guild_content.app.questions import QuestionUseCases
from guild_content.domain.posts import Text
from guild_content.domain.questions import Answer, Comment, Question
from guild_content.entrypoints.grpc.content_service_mapping import (
    VOTE_VALUE,
    answer_to_pb,
    comment_to_pb,
    hit_to_pb,
    post_to_pb,
    question_to_pb,
    revision_to_pb,
)


class QuestionsServicer:
    _questions: QuestionUseCases

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
            question=question_to_pb(asked.question), similar=[hit_to_pb(h) for h in asked.similar]
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
            questions=[question_to_pb(q) for q in page.items], next_page_token=page.next_token
        )

    async def CastVote(
        self, request: api.CastVoteRequest, context: grpc.aio.ServicerContext
    ) -> api.CastVoteResponse:
        value = VOTE_VALUE.get(request.direction, 2)
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
            comments=[comment_to_pb(c) for c in page.items], next_page_token=page.next_token
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
            revisions=[revision_to_pb(r) for r in page.items], next_page_token=page.next_token
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
            tags=[pb.TagCount(tag=tag, count=count) for tag, count in page.items],
            next_page_token=page.next_token,
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
            posts=[post_to_pb(p) for p in page.items], next_page_token=page.next_token
        )
