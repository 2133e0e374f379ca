"""ContentService RPCs: shared resources, their ratings, reviews and outdated marks."""

from __future__ import annotations

import grpc

from guild.content.v1 import content_service_pb2 as api
from guild.content.v1 import resource_pb2 as resource_pb
from guild_common.auth import current_principal
from guild_common.prototime import to_timestamp as _ts
from guild_content.app.resources import ResourceUseCases
from guild_content.entrypoints.grpc.content_service_mapping import rating_to_pb, resource_to_pb


class ResourcesServicer:
    _resources: ResourceUseCases

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
            resources=[resource_to_pb(r) for r in page.items], next_page_token=page.next_token
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
                for r in page.items
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
            resources=[resource_to_pb(r) for r in page.items], next_page_token=page.next_token
        )
