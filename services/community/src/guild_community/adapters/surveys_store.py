"""Surveys and their responses in MongoDB."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.atomic import update_guarded
from guild_common.errors import NotFound
from guild_common.events.outbox import (
    OutboxWake,
    merge_updates,
    outbox_fields,
    outbox_indexes,
    outbox_update,
)
from guild_common.keyset import keyset_page
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_community.adapters.outbound_events import survey_envelope
from guild_community.domain.surveys import (
    Answer,
    Question,
    QuestionType,
    ResponseSubmitted,
    Survey,
    SurveyState,
)

SURVEYS = "surveys"
RESPONSES = "survey_responses"

SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(SURVEYS, [("community_id", 1), ("create_time", -1), ("_id", -1)]),
        IndexSpec(RESPONSES, [("survey_id", 1), ("update_time", -1), ("_id", -1)]),
        *outbox_indexes([SURVEYS, RESPONSES]),
    ],
    outbox_collections=[SURVEYS, RESPONSES],
)


def _answer_doc(a: Answer) -> Document:
    return {"question_id": a.question_id, "score": a.score, "choices": list(a.choices), "text": a.text}


def _answer(doc: Document) -> Answer:
    return Answer(doc["question_id"], doc.get("score", 0), tuple(doc.get("choices", [])), doc.get("text", ""))


def _survey(doc: Document) -> Survey:
    return Survey(
        id=doc["_id"],
        community_id=doc["community_id"],
        title=doc["title"],
        questions=[
            Question(q["id"], q["text"], QuestionType(q["type"]), tuple(q.get("options", [])))
            for q in doc["questions"]
        ],
        created_by=doc["created_by"],
        create_time=doc["create_time"],
        state=SurveyState(doc["state"]),
        open_time=doc.get("open_time"),
        close_time=doc.get("close_time"),
        response_count=doc.get("response_count", 0),
    )


class MongoSurveyRepository:
    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake) -> None:
        self._surveys = db[SURVEYS]
        self._responses = db[RESPONSES]
        self._on_events = on_events

    async def add_survey(self, survey: Survey) -> Survey:
        doc = {
            "_id": survey.id,
            "community_id": survey.community_id,
            "title": survey.title,
            "questions": [
                {"id": q.id, "text": q.text, "type": q.type.value, "options": list(q.options)}
                for q in survey.questions
            ],
            "created_by": survey.created_by,
            "create_time": survey.create_time,
            "state": survey.state.value,
            "response_count": 0,
        }
        try:
            await self._surveys.insert_one(doc)
        except DuplicateKeyError:
            stored = await self.get_survey(survey.id)
            if stored is not None:
                return stored
        return survey

    async def get_survey(self, survey_id: str) -> Survey | None:
        doc = await self._surveys.find_one({"_id": survey_id}, {"outbox": 0})
        return _survey(doc) if doc else None

    async def update_survey(self, survey_id: str, change: Callable[[Survey], None]) -> Survey:
        """Apply ``change`` (which may raise) with a version guard: built again if another writer (a
        response counted, another state change) changed the survey in between."""
        changed: list[Survey] = []

        def build(doc: Document | None) -> Document:
            if doc is None:
                raise NotFound(f"survey {survey_id} not found", reason="SURVEY_NOT_FOUND")
            survey = _survey(doc)
            change(survey)
            changed[:] = [survey]
            fields = {
                "state": survey.state.value,
                "open_time": survey.open_time,
                "close_time": survey.close_time,
            }
            return merge_updates({"$set": fields}, outbox_update([survey_envelope(e) for e in survey.events]))

        await update_guarded(self._surveys, survey_id, build)
        survey = changed[0]
        survey.events.clear()
        self._on_events(SURVEYS, survey_id)
        return survey

    async def put_response(
        self,
        survey: Survey,
        member_id: str,
        answers: list[Answer],
        now: datetime,
        event: Callable[[bool], ResponseSubmitted],
    ) -> bool:
        """Store the member's answers (replacing earlier ones); True if they replaced earlier ones."""
        key = f"{survey.id}:{member_id}"
        fields: dict[str, Any] = {
            "answers": [_answer_doc(a) for a in answers],
            "texts": {a.question_id: a.text for a in answers if a.text},
            "update_time": now,
        }
        # The insert decides who counts the response: exactly one first submission per member, however
        # many arrive at once; later ones replace the answers in one update.
        try:
            await self._responses.insert_one(
                {
                    "_id": key,
                    "survey_id": survey.id,
                    "member_id": member_id,
                    "submit_time": now,
                    **fields,
                    **outbox_fields([survey_envelope(event(False))]),
                }
            )
            replaced = False
        except DuplicateKeyError:
            update = merge_updates({"$set": fields}, outbox_update([survey_envelope(event(True))]))
            await self._responses.update_one({"_id": key}, update)
            replaced = True
        if not replaced:
            await self._surveys.update_one({"_id": survey.id}, {"$inc": {"response_count": 1}})
        self._on_events(RESPONSES, key)
        return replaced

    async def all_answers(self, survey_id: str) -> list[list[Answer]]:
        cursor = self._responses.find({"survey_id": survey_id}, {"answers": 1})
        return [[_answer(a) for a in doc.get("answers", [])] async for doc in cursor]

    async def free_text(
        self, survey_id: str, question_id: str, page_size: int, page_token: str
    ) -> tuple[list[tuple[str, str]], str]:
        docs, token = await keyset_page(
            self._responses,
            {"survey_id": survey_id, f"texts.{question_id}": {"$exists": True}},
            sort_field="update_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection={"member_id": 1, "texts": 1, "update_time": 1},
        )
        return [(d["member_id"], d["texts"][question_id]) for d in docs], token
