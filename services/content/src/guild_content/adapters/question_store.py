"""Questions and answers in MongoDB; each write carries its events in the same document.

Over 400 lines: one class implements the posts' port (``app.ports.QuestionRepository``), whose writes
share the post's version guard, outbox and search mark; the documents' mapping is apart
(``adapters.question_documents``)."""

from __future__ import annotations

from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from guild_common.events.outbox import (
    OutboxWake,
    merge_updates,
    outbox_fields,
    outbox_indexes,
    outbox_update,
)
from guild_common.keyset import keyset_items, keyset_page
from guild_common.mongo import Document, IndexSpec, StoreSchema
from guild_common.pagination import Page, decode_token, encode_token
from guild_content.adapters.counter_writes import Change, CounterWriter, Values, as_int
from guild_content.adapters.meaning_store import MeaningIndex, meaning_fields, stored_similar, vector_fields
from guild_content.adapters.outbound_events import to_envelopes
from guild_content.adapters.question_documents import (
    HINTS,
    HINTS_EPOCH,
    answer_document,
    answer_from,
    comment_document,
    comment_from,
    question_document,
    question_from,
    revision_from,
    search_fields,
    stored_hints,
)
from guild_content.adapters.search_store import (
    POST_SEARCH,
    SEARCH_PENDING,
    SearchIndex,
    search_mark,
)
from guild_content.adapters.vote_writes import swap_vote
from guild_content.app.ports import (
    IndexedQuestion,
    Meaning,
    SearchEntry,
    StoredHints,
    WaitingQuestion,
)
from guild_content.domain.community import CommunityView
from guild_content.domain.events import DomainEvent
from guild_content.domain.posts import (
    POST_KINDS,
    TOPIC_KINDS,
    PostRef,
    PostRemoved,
    Revision,
    Text,
    VoteChanged,
)
from guild_content.domain.questions import Answer, Comment, Post, Question

QUESTIONS = "questions"
ANSWERS = "answers"
COMMENTS = "comments"
VOTES = "votes"
REVISIONS = "revisions"
OUTBOX_COLLECTIONS = [QUESTIONS, ANSWERS, COMMENTS]
SCHEMA = StoreSchema(
    indexes=[
        IndexSpec(QUESTIONS, [("community_id", 1), ("create_time", -1), ("_id", -1)]),
        IndexSpec(QUESTIONS, [("community_id", 1), ("kind", 1), ("create_time", -1), ("_id", -1)]),
        IndexSpec(QUESTIONS, [("community_id", 1), ("activity_time", -1), ("_id", -1)]),
        IndexSpec(QUESTIONS, [("community_id", 1), ("score", -1), ("_id", -1)]),
        IndexSpec(QUESTIONS, [("tags", 1), ("create_time", -1), ("_id", -1)]),
        IndexSpec(QUESTIONS, [("community_id", 1), ("terms", 1)]),
        IndexSpec(QUESTIONS, [("terms", 1), ("community_id", 1), ("create_time", -1), ("_id", -1)]),
        IndexSpec(QUESTIONS, [("community_id", 1), ("answer_count", 1), ("create_time", 1), ("_id", 1)]),
        IndexSpec(ANSWERS, [("question_id", 1), ("create_time", 1), ("_id", 1)]),
        IndexSpec(COMMENTS, [("post_id", 1), ("create_time", 1), ("_id", 1)]),
        IndexSpec(VOTES, [("target_id", 1), ("value", 1)]),
        IndexSpec(REVISIONS, [("post_id", 1), ("number", -1), ("_id", -1)]),
        *outbox_indexes(OUTBOX_COLLECTIONS),
    ],
    outbox_collections=OUTBOX_COLLECTIONS,
)
_NO_OUTBOX = {"outbox": 0}
_LIVE = {"deleted": {"$ne": True}}
# What lists and search show: neither deleted nor hidden by moderation.
VISIBLE = {"deleted": {"$ne": True}, "hidden": {"$ne": True}}

COLLECTION_OF = {
    **{kind: QUESTIONS for kind in POST_KINDS},
    "answer": ANSWERS,
    "comment": COMMENTS,
}
# Questions proper among the posts of the questions collection (documents without a kind are questions).
QUESTIONS_ONLY = {"kind": {"$nin": list(TOPIC_KINDS)}}


class MongoQuestionRepository:
    def __init__(self, db: AsyncDatabase[Document], on_events: OutboxWake) -> None:
        self._questions = db[QUESTIONS]
        self._answers = db[ANSWERS]
        self._comments = db[COMMENTS]
        self._votes = db[VOTES]
        self._revisions = db[REVISIONS]
        self._on_events = on_events
        self._counters = CounterWriter()
        self._search = SearchIndex(db)
        self._meaning = MeaningIndex(db[POST_SEARCH])

    async def add_question(
        self,
        question: Question,
        community: CommunityView,
        hints: StoredHints | None = None,
        meaning: Meaning | None = None,
    ) -> Question:
        envelopes = to_envelopes(question.events, community)
        doc = {**question_document(question), SEARCH_PENDING: True}
        if hints is not None:
            doc |= {HINTS: hints.ids, HINTS_EPOCH: hints.epoch}
        if meaning is not None:
            doc |= meaning_fields(meaning)
        try:
            await self._questions.insert_one({**doc, **outbox_fields(envelopes)})
        except DuplicateKeyError:
            stored = await self.get_question(question.id)
            assert stored is not None
            return stored
        question.events.clear()
        self._on_events(QUESTIONS, question.id)
        await self._search.sync(doc, hints_changed=False)
        return question

    async def get_question(self, question_id: str) -> Question | None:
        doc = await self._questions.find_one({"_id": question_id}, _NO_OUTBOX)
        return question_from(doc) if doc else None

    async def add_answer(self, answer: Answer, community: CommunityView) -> Answer:
        envelopes = to_envelopes(answer.events, community)
        try:
            await self._answers.insert_one({**answer_document(answer), **outbox_fields(envelopes)})
        except DuplicateKeyError:
            stored = await self.get_answer(answer.id)
            assert stored is not None
            return stored
        question = await self._questions.find_one_and_update(
            {"_id": answer.question_id},
            merge_updates(
                {"$inc": {"answer_count": 1}, "$max": {"activity_time": answer.create_time}}, search_mark()
            ),
            return_document=ReturnDocument.AFTER,
        )
        answer.events.clear()
        self._on_events(ANSWERS, answer.id)
        if question is not None:  # its first answer makes the question a possible hint
            await self._search.sync(question, hints_changed=question.get("answer_count") == 1)
        return answer

    async def get_answer(self, answer_id: str) -> Answer | None:
        doc = await self._answers.find_one({"_id": answer_id}, _NO_OUTBOX)
        return answer_from(doc) if doc else None

    async def save_acceptance(self, question: Question, community: CommunityView) -> bool:
        update = merge_updates(
            {"$set": {"accepted_answer_id": question.accepted_answer_id}, "$inc": {"version": 1}},
            outbox_update(to_envelopes(question.events, community)),
        )
        result = await self._questions.update_one({"_id": question.id, "version": question.version}, update)
        if result.modified_count != 1:
            return False
        question.version += 1
        question.events.clear()
        self._on_events(QUESTIONS, question.id)
        return True

    async def list_answers(self, question_id: str, limit: int) -> list[Answer]:
        cursor = (
            self._answers.find({"question_id": question_id, **VISIBLE}, _NO_OUTBOX)
            .sort([("create_time", 1), ("_id", 1)])
            .limit(limit)
        )
        return [answer_from(d) for d in await cursor.to_list()]

    async def list_questions(self, community_id: str, page_size: int, page_token: str) -> Page[Question]:
        return await keyset_items(
            self._questions,
            {"community_id": community_id, **QUESTIONS_ONLY, **VISIBLE},
            sort_field="create_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection=_NO_OUTBOX,
            convert=question_from,
        )

    async def list_posts(
        self, community_id: str, kind: str, page_size: int, page_token: str
    ) -> Page[Question]:
        """Visible posts of one kind (every kind when empty), newest first."""
        query: Document = {"community_id": community_id, **VISIBLE}
        if kind == "question":
            query |= QUESTIONS_ONLY
        elif kind:
            query["kind"] = kind
        return await keyset_items(
            self._questions,
            query,
            sort_field="create_time",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            projection=_NO_OUTBOX,
            convert=question_from,
        )

    async def apply_vote(
        self,
        target: PostRef,
        voter_id: str,
        value: int,
        now: datetime,
        community: CommunityView,
        *,
        question_tags: tuple[str, ...] = (),
        known_score: int | None = None,
    ) -> tuple[int, int]:
        """Store the voter's ``value`` (0 removes the vote) and move the post's score by the difference.

        Returns ``(previous value, score)``. The vote is one atomic write that returns the vote it replaced;
        the score then moves by ``value - previous`` in one write guarded by the score it read, with the
        ``vote_changed`` event (which names the new score) in that same write. ``known_score`` is the score
        the caller read with the post, tried first.
        """
        previous = await swap_vote(self._votes, target.id, voter_id, value, now)
        name = COLLECTION_OF[target.kind]
        if previous == value:
            return previous, await self._stored_score(name, target.id)
        delta = value - previous

        def step(current: Values) -> Change:
            score = as_int(current["score"]) + delta
            event = VoteChanged(target, voter_id, previous, value, score, now, question_tags)
            return Change(inc={"score": delta}, events=to_envelopes([event], community))

        known = None if known_score is None else {"score": known_score}
        outcome = await self._counters.change(self._db_posts(name), target.id, ["score"], step, known=known)
        if outcome is None:
            return previous, 0
        self._on_events(name, target.id)
        return previous, as_int(outcome.values["score"])

    async def _stored_score(self, posts_name: str, target_id: str) -> int:
        doc = await self._db_posts(posts_name).find_one({"_id": target_id}, {"score": 1})
        return int(doc.get("score", 0)) if doc else 0

    def _db_posts(self, name: str) -> AsyncCollection[Document]:
        return {QUESTIONS: self._questions, ANSWERS: self._answers, COMMENTS: self._comments}[name]

    async def add_comment(self, comment: Comment, community: CommunityView) -> Comment:
        envelopes = to_envelopes(comment.events, community)
        try:
            await self._comments.insert_one({**comment_document(comment), **outbox_fields(envelopes)})
        except DuplicateKeyError:
            stored = await self.get_post(comment.id)
            assert isinstance(stored, Comment)
            return stored
        await self._questions.update_one(
            {"_id": comment.question_id}, {"$max": {"activity_time": comment.create_time}}
        )
        comment.events.clear()
        self._on_events(COMMENTS, comment.id)
        return comment

    async def get_post(self, post_id: str) -> Post | None:
        """A question, answer or comment by id, deleted or not."""
        if (question := await self.get_question(post_id)) is not None:
            return question
        if (answer := await self.get_answer(post_id)) is not None:
            return answer
        doc = await self._comments.find_one({"_id": post_id}, _NO_OUTBOX)
        return comment_from(doc) if doc else None

    async def list_comments(self, post_id: str, page_size: int, page_token: str) -> Page[Comment]:
        return await keyset_items(
            self._comments,
            {"post_id": post_id, **VISIBLE},
            sort_field="create_time",
            descending=False,
            page_size=page_size,
            page_token=page_token,
            projection=_NO_OUTBOX,
            convert=comment_from,
        )

    async def save_edit(
        self,
        post: Post,
        text: Text,
        revision: Revision,
        events: list[DomainEvent],
        community: CommunityView,
        meaning: Meaning | None = None,
    ) -> bool:
        """Store the edited text if the post is unchanged since read, and its previous text as ``revision``.

        The revision (keyed by post and number) is written first, then the post, guarded by the version the
        edit was made from; the revision is then confirmed. Edits racing from one version write the same
        number with the same previous text, and one of them wins the post: the winner's confirmation names
        it as the editor, and a confirmed revision is never overwritten by a late loser. If the process
        stops before the post is updated, the next edit writes the same number again over the unconfirmed one.
        """
        name = COLLECTION_OF[post.kind]
        fields: Document = {"body": text.body, "update_time": revision.edit_time}
        searched = post.kind in POST_KINDS
        if searched:
            fields |= {
                "title": text.title,
                "tags": text.tags,
                **search_fields(text.title, text.body, text.tags),
                HINTS_EPOCH: -1,  # its own hints are of its previous title
                **(vector_fields(meaning) if meaning is not None else {}),
            }
        update = merge_updates(
            {"$set": fields, "$inc": {"version": 1, "edit_count": 1}},
            outbox_update(to_envelopes(events, community)),
            search_mark() if searched else {},
        )
        revision_id = f"{post.id}:{revision.number}"
        editor = {"editor_id": revision.editor_id, "edit_time": revision.edit_time}
        previous = revision.text
        try:
            await self._revisions.update_one(
                {"_id": revision_id, "confirmed": {"$ne": True}},
                {
                    "$set": {
                        "post_id": post.id,
                        "number": revision.number,
                        **editor,
                        "title": previous.title,
                        "body": previous.body,
                        "tags": previous.tags,
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # an edit from this version is stored already: the post has moved on
        result = await self._db_posts(name).update_one({"_id": post.id, "version": post.version}, update)
        if result.modified_count != 1:
            return False
        await self._revisions.update_one({"_id": revision_id}, {"$set": {**editor, "confirmed": True}})
        self._on_events(name, post.id)
        if searched:
            await self._search.sync_id(post.id)
        return True

    async def list_revisions(self, post_id: str, page_size: int, page_token: str) -> Page[Revision]:
        return await keyset_items(
            self._revisions,
            {"post_id": post_id},
            sort_field="number",
            descending=True,
            page_size=page_size,
            page_token=page_token,
            convert=revision_from,
        )

    async def mark_deleted(self, removal: PostRemoved, community: CommunityView) -> bool:
        """Soft-delete a post with its events; False if it was deleted already. Answers leave the count."""
        ref = removal.post
        name = COLLECTION_OF[ref.kind]
        fields = {
            "deleted": True,
            "deleted_by": removal.removed_by,
            "delete_reason": removal.reason,
            "delete_time": removal.time,
        }
        searched = name == QUESTIONS
        update = merge_updates(
            {"$set": fields, "$inc": {"version": 1}},
            outbox_update(to_envelopes([removal], community)),
            search_mark() if searched else {},
        )
        result = await self._db_posts(name).update_one({"_id": ref.id, **_LIVE}, update)
        if result.modified_count != 1:
            return False
        question = None
        if ref.kind == "answer":
            question = await self._questions.find_one_and_update(
                {"_id": ref.question_id},
                merge_updates({"$inc": {"answer_count": -1}}, search_mark()),
                return_document=ReturnDocument.AFTER,
            )
        self._on_events(name, ref.id)
        if searched:
            await self._search.sync_id(ref.id)
        if question is not None:  # its last answer gone, the question is no longer a possible hint
            await self._search.sync(question, hints_changed=question.get("answer_count") == 0)
        return True

    async def tag_counts(self, community_id: str, page_size: int, page_token: str) -> Page[tuple[str, int]]:
        """Tags of the community's live questions, most used first, then by name; counted on each call."""
        position = decode_token(page_token)
        pipeline: list[Document] = [
            {"$match": {"community_id": community_id, **VISIBLE}},
            {"$project": {"tags": 1}},
            {"$unwind": "$tags"},
            {"$group": {"_id": "$tags", "count": {"$sum": 1}}},
        ]
        if position:
            after_count, after_tag = int(position["c"]), str(position["t"])
            pipeline.append(
                {
                    "$match": {
                        "$or": [
                            {"count": {"$lt": after_count}},
                            {"count": after_count, "_id": {"$gt": after_tag}},
                        ]
                    }
                }
            )
        pipeline += [{"$sort": {"count": -1, "_id": 1}}, {"$limit": page_size + 1}]
        rows = await (await self._questions.aggregate(pipeline)).to_list()
        counts = [(str(r["_id"]), int(r["count"])) for r in rows[:page_size]]
        next_token = ""
        if len(rows) > page_size:
            next_token = encode_token({"t": counts[-1][0], "c": counts[-1][1]})
        return Page(counts, next_token)

    async def term_entries(
        self, community_ids: list[str], term: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[SearchEntry]:
        return await self._search.term_entries(community_ids, term, limit, after)

    async def title_entries(self, community_ids: list[str], term: str, limit: int) -> list[SearchEntry]:
        return await self._search.title_entries(community_ids, term, limit)

    async def count_since(self, community_ids: list[str], term: str, since: datetime) -> int:
        return await self._search.count_since(community_ids, term, since)

    async def meaning_candidates(
        self, community_id: str, keys: list[str], limit_per_key: int
    ) -> dict[str, bytes]:
        return await self._meaning.candidates(community_id, keys, limit_per_key)

    async def visible_posts(self, post_ids: list[str]) -> dict[str, IndexedQuestion]:
        if not post_ids:
            return {}
        cursor = self._questions.find({"_id": {"$in": list(dict.fromkeys(post_ids))}, **VISIBLE}, _NO_OUTBOX)
        return {
            d["_id"]: IndexedQuestion(
                question_from(d), list(d.get("terms", [])), list(d.get("title_terms", []))
            )
            async for d in cursor
        }

    async def unanswered(
        self, community_id: str, asked_before: datetime, page_size: int, page_token: str
    ) -> Page[WaitingQuestion]:
        """Visible questions without answers asked before ``asked_before``, oldest first."""
        docs, next_token = await keyset_page(
            self._questions,
            {
                "community_id": community_id,
                "answer_count": 0,
                "create_time": {"$lt": asked_before},
                **QUESTIONS_ONLY,
                **VISIBLE,
            },
            sort_field="create_time",
            descending=False,
            page_size=page_size,
            page_token=page_token,
            # the queue weighs titles only, and the meaning found when each was asked
            projection={**_NO_OUTBOX, "terms": 0, "title_terms": 0, "vec": 0, "sim_keys": 0},
        )
        return Page(
            [WaitingQuestion(question_from(d), stored_hints(d), stored_similar(d)) for d in docs], next_token
        )

    async def store_hints(
        self, question_id: str, hints: StoredHints, computed_from: StoredHints | None
    ) -> None:
        """Guarded by the stored epoch read: hints stored meanwhile (or an edit) are not overwritten."""
        read = {"$exists": False} if computed_from is None else computed_from.epoch
        await self._questions.update_one(
            {"_id": question_id, HINTS_EPOCH: read}, {"$set": {HINTS: hints.ids, HINTS_EPOCH: hints.epoch}}
        )

    async def hint_epoch(self, community_id: str) -> int:
        return await self._search.epoch(community_id)

    async def hint_changes(self, community_id: str, after: int, upto: int) -> dict[int, str]:
        return await self._search.hint_changes(community_id, after, upto)
