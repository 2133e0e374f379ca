"""Questions and answers in MongoDB; each write carries its events in the same document."""

from __future__ import annotations

from collections.abc import Callable

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.doclocks import document_lock
from guild_common.events.outbox import merge_updates, outbox_fields, outbox_indexes, outbox_update
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec
from guild_content.adapters.events import to_envelopes
from guild_content.app.ports import QuestionPage
from guild_content.domain.model import Answer, CommunityView, Question

QUESTIONS = "questions"
ANSWERS = "answers"
OUTBOX_COLLECTIONS = [QUESTIONS, ANSWERS]
INDEXES = [
    IndexSpec(QUESTIONS, [("community_id", 1), ("create_time", -1), ("_id", -1)]),
    IndexSpec(ANSWERS, [("question_id", 1), ("create_time", 1), ("_id", 1)]),
    *outbox_indexes(OUTBOX_COLLECTIONS),
]
_NO_OUTBOX = {"outbox": 0}


def _question_doc(q: Question) -> Document:
    return {
        "_id": q.id,
        "community_id": q.community_id,
        "author_id": q.author_id,
        "title": q.title,
        "body": q.body,
        "tags": q.tags,
        "create_time": q.create_time,
        "answer_count": q.answer_count,
        "accepted_answer_id": q.accepted_answer_id,
        "version": q.version,
    }


def _question(doc: Document) -> Question:
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
        version=doc.get("version", 1),
    )


def _answer_doc(a: Answer) -> Document:
    return {
        "_id": a.id,
        "question_id": a.question_id,
        "community_id": a.community_id,
        "author_id": a.author_id,
        "body": a.body,
        "create_time": a.create_time,
    }


def _answer(doc: Document) -> Answer:
    return Answer(
        id=doc["_id"],
        question_id=doc["question_id"],
        community_id=doc["community_id"],
        author_id=doc["author_id"],
        body=doc["body"],
        create_time=doc["create_time"],
    )


class MongoQuestionRepository:
    def __init__(self, db: AsyncDatabase[Document], on_events: Callable[[], None]) -> None:
        self._questions = db[QUESTIONS]
        self._answers = db[ANSWERS]
        self._on_events = on_events

    async def add_question(self, question: Question, community: CommunityView) -> Question:
        envelopes = to_envelopes(question.events, community)
        try:
            await self._questions.insert_one({**_question_doc(question), **outbox_fields(envelopes)})
        except DuplicateKeyError:
            stored = await self.get_question(question.id)
            assert stored is not None
            return stored
        question.events.clear()
        self._on_events()
        return question

    async def get_question(self, question_id: str) -> Question | None:
        doc = await self._questions.find_one({"_id": question_id}, _NO_OUTBOX)
        return _question(doc) if doc else None

    async def add_answer(self, answer: Answer, community: CommunityView) -> Answer:
        envelopes = to_envelopes(answer.events, community)
        try:
            await self._answers.insert_one({**_answer_doc(answer), **outbox_fields(envelopes)})
        except DuplicateKeyError:
            stored = await self.get_answer(answer.id)
            assert stored is not None
            return stored
        async with document_lock(QUESTIONS, answer.question_id):
            await self._questions.update_one({"_id": answer.question_id}, {"$inc": {"answer_count": 1}})
        answer.events.clear()
        self._on_events()
        return answer

    async def get_answer(self, answer_id: str) -> Answer | None:
        doc = await self._answers.find_one({"_id": answer_id}, _NO_OUTBOX)
        return _answer(doc) if doc else None

    async def save_acceptance(self, question: Question, community: CommunityView) -> bool:
        update = merge_updates(
            {"$set": {"accepted_answer_id": question.accepted_answer_id}, "$inc": {"version": 1}},
            outbox_update(to_envelopes(question.events, community)),
        )
        async with document_lock(QUESTIONS, question.id):
            result = await self._questions.update_one(
                {"_id": question.id, "version": question.version}, update
            )
        if result.modified_count != 1:
            return False
        question.version += 1
        question.events.clear()
        self._on_events()
        return True

    async def list_answers(self, question_id: str, limit: int) -> list[Answer]:
        cursor = (
            self._answers.find({"question_id": question_id}, _NO_OUTBOX)
            .sort([("create_time", 1), ("_id", 1)])
            .limit(limit)
        )
        return [_answer(d) for d in await cursor.to_list()]

    async def list_questions(self, community_id: str, page_size: int, page_token: str) -> QuestionPage:
        docs, next_token = await keyset_page(
            self._questions,
            {"community_id": community_id},
            sort_field="create_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection=_NO_OUTBOX,
        )
        return QuestionPage([_question(d) for d in docs], next_token)
