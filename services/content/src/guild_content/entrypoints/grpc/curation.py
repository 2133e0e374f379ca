"""ContentService RPCs: collections, featured items and duplicate marks."""

from __future__ import annotations

import grpc

from guild.content.v1 import content_service_pb2 as api
from guild_common.auth import current_principal
from guild_content.app.curation import CurationUseCases
from guild_content.entrypoints.grpc.content_service_mapping import (
    collection_to_pb,
    feature_to_pb,
    item_to_pb,
    question_to_pb,
)


class CurationServicer:
    _curation: CurationUseCases

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
            collections=[collection_to_pb(c) for c in page.items], next_page_token=page.next_token
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
