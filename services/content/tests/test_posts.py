"""Comments, edits with their history, soft deletes and tag counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import question_pb2 as pb
from guild.events.v1 import content_events_pb2 as events
from guild_testing.fixtures import auth

if TYPE_CHECKING:
    from services.content.tests.conftest import Suite


async def _comment(suite: Suite, post_id: str, who: str, body: str, request_id: str = "") -> pb.Comment:
    response: api.AddCommentResponse = await suite.content.AddComment(
        api.AddCommentRequest(post_id=post_id, body=body, request_id=request_id), metadata=auth(who)
    )
    return response.comment


async def test_comments_on_questions_and_answers_one_level(suite: Suite) -> None:
    question = await suite.ask("ann")
    answer = await suite.answer(question.id, "bob")
    first = await _comment(suite, question.id, "bob", "Which country?", request_id="c-1")
    retried = await _comment(suite, question.id, "bob", "Which country?", request_id="c-1")
    assert retried.id == first.id
    await _comment(suite, question.id, "olivia", "Same question here")
    on_answer = await _comment(suite, answer.id, "ann", "Thanks!")
    assert (on_answer.post_kind, on_answer.question_id) == ("answer", question.id)

    pages: list[str] = []
    token = ""
    while True:
        page = await suite.content.ListComments(
            api.ListCommentsRequest(post_id=question.id, page_size=1, page_token=token), metadata=auth("ann")
        )
        pages += [c.body for c in page.comments]
        token = page.next_page_token
        if not token:
            break
    assert pages == ["Which country?", "Same question here"]

    # One level only: comments take no comments.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _comment(suite, first.id, "ann", "A reply")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _comment(suite, question.id, "ann", " ")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "body" in suite.reason(caught.value)[1]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _comment(suite, question.id, "mallory", "Hello")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    received = await suite.content_events(5)
    posted = [e.payload(events.CommentPosted) for e in received if e.type.endswith("comment_posted.v1")]
    # Events of different posts keep no order among themselves.
    assert sorted((c.post_kind, c.author_id, c.post_author_id) for c in posted) == [
        ("answer", "ann", "bob"),
        ("question", "bob", "ann"),
        ("question", "olivia", "ann"),
    ]


async def test_edits_keep_the_previous_text_and_only_authors_or_moderators_edit(suite: Suite) -> None:
    question = await suite.ask("ann", title="How do I book leave", tags=["hr"])
    edited = await suite.content.EditPost(
        api.EditPostRequest(
            post_id=question.id,
            title="How do I book annual leave?",
            tags=["HR", "Annual leave"],
            update_mask=FieldMask(paths=["title", "tags"]),
        ),
        metadata=auth("ann"),
    )
    assert edited.revision == 1
    assert (edited.question.title, list(edited.question.tags)) == (
        "How do I book annual leave?",
        ["hr", "annual-leave"],
    )
    assert edited.question.body == "Where is the form?"
    assert edited.question.HasField("update_time")

    # The owner moderates and may edit; bob may not.
    by_owner = await suite.content.EditPost(
        api.EditPostRequest(
            post_id=question.id, body="Where is the leave form?", update_mask=FieldMask(paths=["body"])
        ),
        metadata=auth("olivia"),
    )
    assert by_owner.revision == 2
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.EditPost(
            api.EditPostRequest(post_id=question.id, body="mine now"), metadata=auth("bob")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert suite.reason(caught.value)[0] == "NOT_AUTHOR"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.EditPost(
            api.EditPostRequest(post_id=question.id, title="", update_mask=FieldMask(paths=["title"])),
            metadata=auth("ann"),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "title" in suite.reason(caught.value)[1]

    answer = await suite.answer(question.id, "bob")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.EditPost(
            api.EditPostRequest(post_id=answer.id, title="x", update_mask=FieldMask(paths=["title"])),
            metadata=auth("bob"),
        )
    assert "update_mask" in suite.reason(caught.value)[1]
    answer_edit = await suite.content.EditPost(
        api.EditPostRequest(post_id=answer.id, body="Use the HR portal, under Absence."), metadata=auth("bob")
    )
    assert answer_edit.answer.body == "Use the HR portal, under Absence."

    history = await suite.content.ListRevisions(
        api.ListRevisionsRequest(post_id=question.id), metadata=auth("bob")
    )
    assert [(r.revision, r.editor_id, r.title, r.body, list(r.tags)) for r in history.revisions] == [
        (2, "olivia", "How do I book annual leave?", "Where is the form?", ["hr", "annual-leave"]),
        (1, "ann", "How do I book leave", "Where is the form?", ["hr"]),
    ]
    got = await suite.get(question.id)
    assert (got.question.title, got.question.body) == (
        "How do I book annual leave?",
        "Where is the leave form?",
    )
    received = await suite.content_events(5)
    edits = [e.payload(events.PostEdited) for e in received if e.type.endswith("post_edited.v1")]
    # The question's edits in order; the answer's are another aggregate's.
    assert [(e.kind, e.editor_id, e.revision) for e in edits if e.kind == "question"] == [
        ("question", "ann", 1),
        ("question", "olivia", 2),
    ]
    assert [(e.kind, e.editor_id, e.revision) for e in edits if e.kind == "answer"] == [("answer", "bob", 1)]


async def test_soft_delete_by_author_or_moderator(suite: Suite) -> None:
    question = await suite.ask("ann")
    kept = await suite.answer(question.id, "olivia", body="Kept")
    answer = await suite.answer(question.id, "bob")
    await suite.content.AcceptAnswer(
        api.AcceptAnswerRequest(question_id=question.id, answer_id=answer.id), metadata=auth("ann")
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.DeletePost(api.DeletePostRequest(post_id=answer.id), metadata=auth("ann"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # A moderator must give a reason.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.DeletePost(api.DeletePostRequest(post_id=answer.id), metadata=auth("olivia"))
    assert "reason" in suite.reason(caught.value)[1]
    deleted = await suite.content.DeletePost(
        api.DeletePostRequest(post_id=answer.id, reason="copied from elsewhere"), metadata=auth("olivia")
    )
    assert deleted.kind == "answer"
    got = await suite.get(question.id)
    assert [a.id for a in got.answers] == [kept.id]
    assert (got.question.answer_count, got.question.accepted_answer_id) == (1, "")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.content.DeletePost(api.DeletePostRequest(post_id=answer.id), metadata=auth("bob"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    comment = await _comment(suite, question.id, "bob", "Nice one")
    await suite.content.DeletePost(api.DeletePostRequest(post_id=comment.id), metadata=auth("bob"))
    listed = await suite.content.ListComments(
        api.ListCommentsRequest(post_id=question.id), metadata=auth("ann")
    )
    assert list(listed.comments) == []

    await suite.content.DeletePost(api.DeletePostRequest(post_id=question.id), metadata=auth("ann"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.get(question.id)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed_questions = await suite.content.ListQuestions(
        api.ListQuestionsRequest(community_id=suite.community_id), metadata=auth("ann")
    )
    assert list(listed_questions.questions) == []

    received = await suite.content_events(9)
    removed = [e.payload(events.PostRemoved) for e in received if e.type.endswith("post_removed.v1")]
    assert sorted((r.kind, r.author_id, r.removed_by, r.by_moderator, r.reason) for r in removed) == [
        ("answer", "bob", "olivia", True, "copied from elsewhere"),
        ("comment", "bob", "bob", False, ""),
        ("question", "ann", "ann", False, ""),
    ]
    unaccepted = [
        e.payload(events.AnswerUnaccepted) for e in received if e.type.endswith("answer_unaccepted.v1")
    ]
    assert [(u.answer_id, u.answer_author_id, u.unaccepted_by) for u in unaccepted] == [
        (answer.id, "bob", "olivia")
    ]


async def test_tags_with_counts_per_community(suite: Suite) -> None:
    await suite.ask("ann", title="One", tags=["hr", "leave"])
    await suite.ask("ann", title="Two", tags=["hr", "payroll"])
    third = await suite.ask("bob", title="Three", tags=["hr", "leave", "benefits"])
    await suite.ask("bob", title="Four", tags=["payroll"])
    gone = await suite.ask("bob", title="Five", tags=["gone"])
    await suite.content.DeletePost(api.DeletePostRequest(post_id=gone.id), metadata=auth("bob"))
    await suite.content.EditPost(
        api.EditPostRequest(
            post_id=third.id, tags=["hr", "leave", "pension"], update_mask=FieldMask(paths=["tags"])
        ),
        metadata=auth("bob"),
    )
    seen: list[tuple[str, int]] = []
    token = ""
    while True:
        page = await suite.content.ListTags(
            api.ListTagsRequest(community_id=suite.community_id, page_size=2, page_token=token),
            metadata=auth("ann"),
        )
        seen += [(t.tag, t.count) for t in page.tags]
        token = page.next_page_token
        if not token:
            break
    assert seen == [("hr", 3), ("leave", 2), ("payroll", 2), ("pension", 1)]


async def test_mentions_of_members_emit_events(suite: Suite) -> None:
    question = await suite.ask(
        "ann", title="Leave rules", body="@bob and @olivia, do you know? cc @ann @mallory, mail x@example.com"
    )
    await _comment(suite, question.id, "bob", "Ask @ann's manager... or @olivia.")
    answer = await suite.answer(question.id, "bob", body="As @olivia said")
    await suite.content.EditPost(
        api.EditPostRequest(post_id=answer.id, body="As @olivia said, and @ann knows"), metadata=auth("bob")
    )
    received = await suite.content_events(10)
    mentions = [e.payload(events.MentionMade) for e in received if e.type.endswith("mention_made.v1")]
    assert sorted((m.kind, m.author_id, m.mentioned_id) for m in mentions) == [
        ("answer", "bob", "ann"),
        ("answer", "bob", "olivia"),
        ("comment", "bob", "ann"),
        ("comment", "bob", "olivia"),
        ("question", "ann", "bob"),
        ("question", "ann", "olivia"),
    ]
    assert {m.question_id for m in mentions} == {question.id}
