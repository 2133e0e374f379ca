"""Questions, answers, comments and revisions as MongoDB documents, and back."""

from __future__ import annotations

from guild_common.mongo import Document
from guild_content.adapters.search_store import SEARCH_SEQ
from guild_content.app.ports import StoredHints
from guild_content.domain.posts import Revision, Text
from guild_content.domain.questions import Answer, Comment, Question
from guild_content.domain.search import IndexedText


def _edit_fields(doc: Document) -> Document:
    return {
        "version": doc.get("version", 1),
        "update_time": doc.get("update_time"),
        "edit_count": doc.get("edit_count", 0),
        "deleted": doc.get("deleted", False),
        "hidden": doc.get("hidden", False),
        "locked": doc.get("locked", False),
    }


def comment_document(c: Comment) -> Document:
    return {
        "_id": c.id,
        "post_id": c.post_id,
        "post_kind": c.post_kind,
        "question_id": c.question_id,
        "community_id": c.community_id,
        "author_id": c.author_id,
        "body": c.body,
        "create_time": c.create_time,
        "version": c.version,
    }


def comment_from(doc: Document) -> Comment:
    return Comment(
        id=doc["_id"],
        post_id=doc["post_id"],
        post_kind=doc["post_kind"],
        question_id=doc["question_id"],
        community_id=doc["community_id"],
        author_id=doc["author_id"],
        body=doc["body"],
        create_time=doc["create_time"],
        **_edit_fields(doc),
    )


def revision_from(doc: Document) -> Revision:
    return Revision(
        post_id=doc["post_id"],
        number=doc["number"],
        editor_id=doc["editor_id"],
        edit_time=doc["edit_time"],
        text=Text(doc.get("title", ""), doc.get("body", ""), list(doc.get("tags", []))),
    )


def search_fields(title: str, body: str, tags: list[str]) -> Document:
    indexed = IndexedText.of(title, body, tags)
    return {"terms": indexed.terms, "title_terms": indexed.title_terms}


def question_document(q: Question) -> Document:
    """The stored form of a new question (the benchmarks seed with it too); its search document is
    :func:`guild_content.adapters.search_store.search_document` of it."""
    return {
        **search_fields(q.title, q.body, q.tags),
        "_id": q.id,
        "kind": q.kind,
        "community_id": q.community_id,
        "author_id": q.author_id,
        "title": q.title,
        "body": q.body,
        "tags": q.tags,
        "create_time": q.create_time,
        # Last answer or comment (the post itself at first): what the recent-activity feed sorts by.
        "activity_time": q.create_time,
        "answer_count": q.answer_count,
        "accepted_answer_id": q.accepted_answer_id,
        "score": q.score,
        "version": q.version,
        SEARCH_SEQ: 1,
    }


# A question's similar-question hints: the ids, and the hint epoch they were computed at (-1: edited since).
HINTS = "hints"
HINTS_EPOCH = "hints_epoch"


def stored_hints(doc: Document) -> StoredHints | None:
    epoch = doc.get(HINTS_EPOCH)
    if not isinstance(epoch, int):
        return None
    return StoredHints([str(i) for i in doc.get(HINTS) or []], epoch)


def question_from(doc: Document) -> Question:
    return Question(
        id=doc["_id"],
        community_id=doc["community_id"],
        author_id=doc["author_id"],
        title=doc["title"],
        body=doc.get("body", ""),
        tags=list(doc.get("tags", [])),
        create_time=doc["create_time"],
        answer_count=doc.get("answer_count", 0),
        accepted_answer_id=doc.get("accepted_answer_id", ""),
        score=doc.get("score", 0),
        kind=doc.get("kind", "question"),
        duplicate_of=doc.get("duplicate_of", ""),
        **_edit_fields(doc),
    )


def answer_document(a: Answer) -> Document:
    return {
        "_id": a.id,
        "question_id": a.question_id,
        "community_id": a.community_id,
        "author_id": a.author_id,
        "body": a.body,
        "create_time": a.create_time,
        "score": a.score,
        "version": a.version,
    }


def answer_from(doc: Document) -> Answer:
    return Answer(
        id=doc["_id"],
        question_id=doc["question_id"],
        community_id=doc["community_id"],
        author_id=doc["author_id"],
        body=doc["body"],
        create_time=doc["create_time"],
        score=doc.get("score", 0),
        **_edit_fields(doc),
    )
