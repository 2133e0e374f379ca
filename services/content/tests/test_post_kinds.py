"""Discussions, articles and announcements: posts beside questions, sharing their edits, comments, flags."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import post_pb2, question_pb2
from guild.events.v1 import content_events_pb2 as events
from guild_testing.fixtures import auth

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite


async def _post(suite: Suite, kind: str, who: str = "ann", **kw: object) -> post_pb2.Post:
    fields: dict[str, object] = {
        "community_id": suite.community_id,
        "kind": kind,
        "title": f"A {kind}",
        "body": "Some words",
    }
    fields.update(kw)
    response: api.CreatePostResponse = await suite.content.CreatePost(
        api.CreatePostRequest(**fields),  # type: ignore[arg-type]
        metadata=auth(who),
    )
    return response.post


async def _list(suite: Suite, kind: str = "", who: str = "bob") -> list[str]:
    response: api.ListPostsResponse = await suite.content.ListPosts(
        api.ListPostsRequest(community_id=suite.community_id, kind=kind), metadata=auth(who)
    )
    return [p.id for p in response.posts]


async def test_members_post_discussions_and_articles_and_owners_announce(suite: Suite) -> None:
    question = await suite.ask("ann")
    discussion = await _post(suite, "discussion", tags=["Lunch Spots"], request_id="d-1")
    assert (discussion.kind, list(discussion.tags), discussion.author_id) == (
        "discussion",
        ["lunch-spots"],
        "ann",
    )
    assert (await _post(suite, "discussion", tags=["Lunch Spots"], request_id="d-1")).id == discussion.id
    article = await _post(suite, "article", "bob", title="War story: my first deploy")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _post(suite, "announcement", "bob")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    status = suite.reason(caught.value)
    assert status[0] == "NOT_A_MODERATOR"
    announcement = await _post(suite, "announcement", "olivia", title="Welcome, cohort 7")
    asked = await _post(suite, "question", "bob", title="Is there a gym?", body="")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _post(suite, "poll", body="", title="")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "kind" in suite.reason(caught.value)[1]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _post(suite, "article", body=" ")
    assert "body" in suite.reason(caught.value)[1]

    assert await _list(suite) == [asked.id, announcement.id, article.id, discussion.id, question.id]
    assert await _list(suite, "discussion") == [discussion.id]
    assert await _list(suite, "question") == [asked.id, question.id]
    questions = await suite.content.ListQuestions(
        api.ListQuestionsRequest(community_id=suite.community_id), metadata=auth("bob")
    )
    assert [q.id for q in questions.questions] == [asked.id, question.id]
    got = await suite.content.GetPost(api.GetPostRequest(post_id=article.id), metadata=auth("ann"))
    assert (got.post.title, got.post.kind) == ("War story: my first deploy", "article")

    # Not a question: no answers, and GetQuestion does not find it.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.answer(discussion.id)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.get(discussion.id)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    received = await suite.content_events(5)
    created = [e.payload(events.PostCreated) for e in received if e.type.endswith("post_created.v1")]
    assert sorted((c.kind, c.post_id, c.author_id) for c in created) == sorted(
        [
            ("discussion", discussion.id, "ann"),
            ("article", article.id, "bob"),
            ("announcement", announcement.id, "olivia"),
        ]
    )
    assert sum(e.type.endswith("question_asked.v1") for e in received) == 2


async def test_posts_of_every_kind_are_edited_commented_voted_flagged_and_deleted(suite: Suite) -> None:
    article = await _post(suite, "article", "ann", body="Version one")
    edited = await suite.content.EditPost(
        api.EditPostRequest(post_id=article.id, body="Version two", update_mask=FieldMask(paths=["body"])),
        metadata=auth("ann"),
    )
    assert (edited.WhichOneof("post"), edited.topic.body, edited.revision) == ("topic", "Version two", 1)
    revisions = await suite.content.ListRevisions(
        api.ListRevisionsRequest(post_id=article.id), metadata=auth("bob")
    )
    assert [r.body for r in revisions.revisions] == ["Version one"]

    comment = await suite.content.AddComment(
        api.AddCommentRequest(post_id=article.id, body="Nice one"), metadata=auth("bob")
    )
    assert comment.comment.post_kind == "article"
    voted = await suite.content.CastVote(
        api.CastVoteRequest(target_id=article.id, direction=question_pb2.VOTE_DIRECTION_UP),
        metadata=auth("bob"),
    )
    assert (voted.score, voted.target_kind) == (1, "article")
    flagged = await suite.content.FlagPost(
        api.FlagPostRequest(post_id=article.id, reason=api.FLAG_REASON_SPAM), metadata=auth("bob")
    )
    assert flagged.flag_count == 1

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.DeletePost(api.DeletePostRequest(post_id=article.id), metadata=auth("bob"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    deleted = await suite.content.DeletePost(api.DeletePostRequest(post_id=article.id), metadata=auth("ann"))
    assert deleted.kind == "article"
    assert await _list(suite, "article") == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.GetPost(api.GetPostRequest(post_id=article.id), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
