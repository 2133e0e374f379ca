"""ContentService RPCs: flags, the moderation queue, moderators' actions and their log."""

from __future__ import annotations

import grpc

from guild.content.v1 import content_service_pb2 as api
from guild_common.auth import current_principal
from guild_common.prototime import to_timestamp as _ts
from guild_content.app.moderation import ModerationUseCases
from guild_content.entrypoints.grpc.content_service_mapping import ACTION, FLAG_REASON


class ModerationServicer:
    _moderation: ModerationUseCases

    async def FlagPost(
        self, request: api.FlagPostRequest, context: grpc.aio.ServicerContext
    ) -> api.FlagPostResponse:
        count, hidden = await self._moderation.flag(
            current_principal(), request.post_id, FLAG_REASON.get(request.reason, ""), request.note
        )
        return api.FlagPostResponse(post_id=request.post_id, flag_count=count, hidden=hidden)

    async def ListModerationQueue(
        self, request: api.ListModerationQueueRequest, context: grpc.aio.ServicerContext
    ) -> api.ListModerationQueueResponse:
        page = await self._moderation.moderation_queue(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListModerationQueueResponse(
            items=[
                api.ModerationQueueItem(
                    post_id=i.post.id,
                    kind=i.post.kind,
                    community_id=i.post.community_id,
                    author_id=i.post.author_id,
                    excerpt=i.excerpt,
                    flag_count=i.flag_count,
                    reasons=i.reasons,
                    hidden=i.hidden,
                    queue_time=_ts(i.queue_time),
                )
                for i in page.items
            ],
            next_page_token=page.next_token,
        )

    async def ModeratePost(
        self, request: api.ModeratePostRequest, context: grpc.aio.ServicerContext
    ) -> api.ModeratePostResponse:
        post = await self._moderation.moderate(
            current_principal(), request.post_id, ACTION.get(request.action, ""), request.reason
        )
        return api.ModeratePostResponse(
            post_id=post.id, kind=post.kind, hidden=post.hidden, locked=post.locked, deleted=post.deleted
        )

    async def ListModerationLog(
        self, request: api.ListModerationLogRequest, context: grpc.aio.ServicerContext
    ) -> api.ListModerationLogResponse:
        page = await self._moderation.moderation_log(
            current_principal(), request.community_id, request.page_size, request.page_token
        )
        return api.ListModerationLogResponse(
            entries=[
                api.ModerationLogEntry(
                    id=e.id,
                    post_id=e.post.id,
                    kind=e.post.kind,
                    community_id=e.post.community_id,
                    action=e.action,
                    actor_id=e.actor_id,
                    reason=e.reason,
                    time=_ts(e.time),
                )
                for e in page.items
            ],
            next_page_token=page.next_token,
        )
