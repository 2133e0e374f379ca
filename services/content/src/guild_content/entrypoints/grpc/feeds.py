"""ContentService RPCs: community and personal feeds and followed tags."""

from __future__ import annotations

import grpc

from guild.content.v1 import content_service_pb2 as api
from guild_common.auth import current_principal
from guild_content.app.feeds import FeedUseCases
from guild_content.entrypoints.grpc.content_service_mapping import FEED_ORDER, feed_item_to_pb


class FeedsServicer:
    _feeds: FeedUseCases

    async def ListCommunityFeed(
        self, request: api.ListCommunityFeedRequest, context: grpc.aio.ServicerContext
    ) -> api.ListCommunityFeedResponse:
        page = await self._feeds.community_feed(
            current_principal(),
            request.community_id,
            FEED_ORDER.get(request.order, ""),
            request.page_size,
            request.page_token,
        )
        return api.ListCommunityFeedResponse(
            items=[feed_item_to_pb(e) for e in page.items], next_page_token=page.next_token
        )

    async def ListPersonalFeed(
        self, request: api.ListPersonalFeedRequest, context: grpc.aio.ServicerContext
    ) -> api.ListPersonalFeedResponse:
        page = await self._feeds.personal_feed(current_principal(), request.page_size, request.page_token)
        return api.ListPersonalFeedResponse(
            items=[feed_item_to_pb(e) for e in page.items], next_page_token=page.next_token
        )

    async def FollowTag(
        self, request: api.FollowTagRequest, context: grpc.aio.ServicerContext
    ) -> api.FollowTagResponse:
        return api.FollowTagResponse(tag=await self._feeds.follow_tag(current_principal(), request.tag))

    async def UnfollowTag(
        self, request: api.UnfollowTagRequest, context: grpc.aio.ServicerContext
    ) -> api.UnfollowTagResponse:
        return api.UnfollowTagResponse(tag=await self._feeds.unfollow_tag(current_principal(), request.tag))

    async def ListFollowedTags(
        self, request: api.ListFollowedTagsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListFollowedTagsResponse:
        page = await self._feeds.followed_tags(current_principal(), request.page_size, request.page_token)
        return api.ListFollowedTagsResponse(tags=page.items, next_page_token=page.next_token)
