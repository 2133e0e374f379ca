"""Curation use cases: collections (learning paths) and a community's featured items."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from guild_common.auth import Principal
from guild_common.clock import utc_now
from guild_common.errors import FailedPrecondition, NotFound, Validator
from guild_common.ids import id_for_request, new_id
from guild_common.pagination import Page, clamp_page_size
from guild_content.app.access import CommunityAccess
from guild_content.app.ports import (
    CurationRepository,
    MembershipDirectory,
    QuestionRepository,
    ResourceRepository,
)
from guild_content.domain.community import CURATING_ROLES, CommunityView, ensure_curator
from guild_content.domain.curation import (
    FEATURE_KINDS,
    Collection,
    CollectionItem,
    Feature,
    ItemFeatured,
)
from guild_content.domain.duplicates import CHAIN_MAX, ID_MAX, DuplicateMarked, check_ids, ensure_markable
from guild_content.domain.posts import is_question_kind
from guild_content.domain.questions import Question


class CurationUseCases(CommunityAccess):
    not_a_member = "only members of the community may do this"

    def __init__(
        self,
        curation: CurationRepository,
        questions: QuestionRepository,
        resources: ResourceRepository,
        directory: MembershipDirectory,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._curation = curation
        self._questions = questions
        self._resources = resources
        super().__init__(directory)
        self._clock = clock

    async def create_collection(
        self, caller: Principal, community_id: str, title: str, description: str, request_id: str
    ) -> Collection:
        _require(community_id=community_id)
        community = await self._curator_of(caller, community_id)
        community.ensure_writable()
        collection = Collection.create(
            id=id_for_request("collection", caller.subject, request_id) if request_id else new_id(),
            community_id=community_id,
            curator_id=caller.subject,
            title=title,
            description=description,
            now=self._clock(),
        )
        return await self._curation.add_collection(collection)

    async def get_collection(self, caller: Principal, collection_id: str) -> tuple[Collection, bool]:
        """A collection and whether the caller follows it; drafts are found by curators only."""
        collection = await self._collection(collection_id)
        await self._readable(caller, collection.community_id)
        if not collection.published and not await self._is_curator(caller, collection.community_id):
            raise NotFound(f"collection {collection_id} not found", reason="COLLECTION_NOT_FOUND")
        return collection, await self._curation.is_following(collection.id, caller.subject)

    async def list_collections(
        self, caller: Principal, community_id: str, drafts: bool, page_size: int, page_token: str
    ) -> Page[Collection]:
        _require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        if drafts:
            await self._curator_of(caller, community_id)
        else:
            await self._readable(caller, community_id)
        return await self._curation.list_collections(community_id, not drafts, size, page_token)

    async def add_item(
        self,
        caller: Principal,
        collection_id: str,
        *,
        post_id: str,
        url: str,
        title: str,
        note: str,
        position: int | None,
        request_id: str,
    ) -> tuple[Collection, CollectionItem]:
        collection = await self._collection(collection_id)
        community = await self._curator_of(caller, collection.community_id)
        community.ensure_writable()
        if post_id:
            post_title, _ = await self._post_of(collection.community_id, post_id)
            title = title.strip() or post_title
        item = CollectionItem.new(
            id=id_for_request("collection-item", collection_id, request_id) if request_id else new_id(),
            post_id=post_id,
            url=url,
            title=title,
            note=note,
            now=self._clock(),
        )
        added: list[CollectionItem] = []

        def change(c: Collection) -> None:  # may run again on a newer state: keep only the last
            added[:] = [c.add(item, position, self._clock())]

        stored = await self._curation.change_collection(collection_id, change, community)
        return stored, next(i for i in stored.items if i.id == added[0].id)

    async def remove_item(self, caller: Principal, collection_id: str, item_id: str) -> Collection:
        _require(item_id=item_id)
        community = await self._curating(caller, collection_id)
        return await self._curation.change_collection(
            collection_id, lambda c: c.remove(item_id, self._clock()), community
        )

    async def reorder(self, caller: Principal, collection_id: str, item_ids: list[str]) -> Collection:
        community = await self._curating(caller, collection_id)
        return await self._curation.change_collection(
            collection_id, lambda c: c.reorder(item_ids, self._clock()), community
        )

    async def publish(self, caller: Principal, collection_id: str) -> Collection:
        community = await self._curating(caller, collection_id)
        return await self._curation.change_collection(
            collection_id, lambda c: c.publish(self._clock()), community
        )

    async def follow(self, caller: Principal, collection_id: str, follow: bool) -> int:
        """Follow or unfollow a published collection; returns its number of followers."""
        collection = await self._collection(collection_id)
        community, _ = await self._member_of(caller, collection.community_id)
        if not collection.published:
            if await self._is_curator(caller, collection.community_id):
                raise FailedPrecondition("only published collections can be followed", reason="NOT_PUBLISHED")
            raise NotFound(f"collection {collection_id} not found", reason="COLLECTION_NOT_FOUND")
        if follow:
            community.ensure_writable()
        return await self._curation.set_following(
            collection, caller.subject, follow, self._clock(), community
        )

    async def feature(self, caller: Principal, community_id: str, item_kind: str, item_id: str) -> Feature:
        _check_feature(community_id, item_kind, item_id)
        community = await self._curator_of(caller, community_id)
        community.ensure_writable()
        if item_kind == "collection":
            collection = await self._collection(item_id)
            if collection.community_id != community_id or not collection.published:
                raise NotFound(f"collection {item_id} not found", reason="COLLECTION_NOT_FOUND")
            title, author = collection.title, collection.curator_id
        else:
            title, author = await self._post_of(community_id, item_id)
        feature = Feature(community_id, item_kind, item_id, title, author, caller.subject, self._clock())
        feature.events.append(ItemFeatured(feature))
        return await self._curation.feature(feature, community)

    async def unfeature(self, caller: Principal, community_id: str, item_kind: str, item_id: str) -> None:
        _check_feature(community_id, item_kind, item_id)
        await self._curator_of(caller, community_id)
        if not await self._curation.unfeature(f"{community_id}:{item_kind}:{item_id}"):
            raise NotFound(f"{item_kind} {item_id} is not featured", reason="NOT_FEATURED")

    async def list_featured(
        self, caller: Principal, community_id: str, page_size: int, page_token: str
    ) -> Page[Feature]:
        _require(community_id=community_id)
        size = clamp_page_size(page_size, default=20, maximum=100)
        await self._readable(caller, community_id)
        return await self._curation.list_features(community_id, size, page_token)

    async def mark_duplicate(self, caller: Principal, question_id: str, duplicate_of: str) -> Question:
        """Point a question at the earlier one it duplicates (the root of that one's chain); marking it
        again the same way changes nothing."""
        check_ids(question_id, duplicate_of)
        question = await self._live_question(question_id, "question_id")
        await self._readable(caller, question.community_id)  # a hidden community's: not found
        community = await self._curator_of(caller, question.community_id)
        community.ensure_writable()
        original = await self._live_question(duplicate_of, "duplicate_of")
        for _ in range(CHAIN_MAX):
            if not original.duplicate_of:
                break
            original = await self._live_question(original.duplicate_of, "duplicate_of")
        ensure_markable(question, original)
        if question.duplicate_of == original.id:
            return question
        if question.duplicate_of:
            raise FailedPrecondition(
                f"the question is marked a duplicate of {question.duplicate_of[:ID_MAX]} already",
                reason="ALREADY_MARKED",
            )
        mark = DuplicateMarked(question, original.id, caller.subject, True, self._clock())
        stored = await self._curation.mark_duplicate(mark, community)
        if stored != original.id:
            raise FailedPrecondition("the question was marked a duplicate meanwhile", reason="ALREADY_MARKED")
        question.duplicate_of = stored
        return question

    async def unmark_duplicate(self, caller: Principal, question_id: str) -> Question:
        """Take back a question's duplicate mark; a question without one stays as it is."""
        _require(question_id=question_id)
        question = await self._live_question(question_id, "question_id")
        await self._readable(caller, question.community_id)
        community = await self._curator_of(caller, question.community_id)
        community.ensure_writable()
        if question.duplicate_of:
            mark = DuplicateMarked(question, question.duplicate_of, caller.subject, False, self._clock())
            await self._curation.unmark_duplicate(mark, community)
            question.duplicate_of = ""
        return question

    async def _live_question(self, question_id: str, field: str) -> Question:
        """A visible question (not another kind of post), else NOT_FOUND naming ``field``."""
        question = await self._questions.get_question(question_id)
        if question is None or question.deleted or question.hidden or not is_question_kind(question.kind):
            raise NotFound(f"{field} {question_id[:ID_MAX]} not found", reason="QUESTION_NOT_FOUND")
        return question

    async def _post_of(self, community_id: str, post_id: str) -> tuple[str, str]:
        """The title and author of a live question or resource of the community."""
        question = await self._questions.get_question(post_id)
        live = question is not None and not (question.deleted or question.hidden)
        if question is not None and live and question.community_id == community_id:
            return question.title, question.author_id
        resource = await self._resources.get_resource(post_id)
        if resource is not None and resource.community_id == community_id:
            return resource.title, resource.author_id
        raise NotFound(f"post {post_id} not found in this community", reason="POST_NOT_FOUND")

    async def _collection(self, collection_id: str) -> Collection:
        _require(collection_id=collection_id)
        collection = await self._curation.get_collection(collection_id)
        if collection is None:
            raise NotFound(f"collection {collection_id} not found", reason="COLLECTION_NOT_FOUND")
        return collection

    async def _curating(self, caller: Principal, collection_id: str) -> CommunityView:
        """The community of a collection the caller may change; archived communities refuse changes."""
        collection = await self._collection(collection_id)
        community = await self._curator_of(caller, collection.community_id)
        community.ensure_writable()
        return community

    async def _curator_of(self, caller: Principal, community_id: str) -> CommunityView:
        community, membership = await self._member_of(caller, community_id)
        ensure_curator(membership)
        return community

    async def _is_curator(self, caller: Principal, community_id: str) -> bool:
        membership = await self._directory.membership(community_id, caller.subject)
        return membership is not None and membership.role in CURATING_ROLES


def _require(**fields: str) -> None:
    check = Validator()
    for name, value in fields.items():
        check.require(bool(value), name, "must not be empty")
    check.check()


def _check_feature(community_id: str, item_kind: str, item_id: str) -> None:
    check = Validator()
    check.require(bool(community_id), "community_id", "must not be empty")
    check.require(item_kind in FEATURE_KINDS, "item_kind", "post or collection")
    check.require(bool(item_id), "item_id", "must not be empty")
    check.check()
