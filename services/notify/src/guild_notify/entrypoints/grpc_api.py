"""The NotifyService gRPC servicer."""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from guild.notify.v1 import notification_pb2 as pb
from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_common.auth import current_principal
from guild_notify.app.use_cases import InboxUseCases
from guild_notify.domain.model import Notification, NotificationType

_TYPE_TO_PB = {
    NotificationType.NEW_ANSWER: pb.NOTIFICATION_TYPE_NEW_ANSWER,
    NotificationType.ANSWER_ACCEPTED: pb.NOTIFICATION_TYPE_ANSWER_ACCEPTED,
}


def notification_to_pb(n: Notification) -> pb.Notification:
    created = Timestamp()
    created.FromDatetime(n.create_time)
    return pb.Notification(
        id=n.id,
        recipient_id=n.recipient_id,
        type=_TYPE_TO_PB[n.type],
        community_id=n.community_id,
        subject_id=n.subject_id,
        actor_id=n.actor_id,
        text=n.text,
        create_time=created,
        read=n.read,
    )


class NotifyServicer(api_grpc.NotifyServiceServicer):
    def __init__(self, use_cases: InboxUseCases) -> None:
        self._uc = use_cases

    async def ListNotifications(
        self, request: api.ListNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListNotificationsResponse:
        page = await self._uc.list_notifications(
            current_principal(), request.unread_only, request.page_size, request.page_token
        )
        return api.ListNotificationsResponse(
            notifications=[notification_to_pb(n) for n in page.notifications],
            next_page_token=page.next_token,
            unread_count=page.unread_count,
        )

    async def MarkNotificationsRead(
        self, request: api.MarkNotificationsReadRequest, context: grpc.aio.ServicerContext
    ) -> api.MarkNotificationsReadResponse:
        marked = await self._uc.mark_read(current_principal(), list(request.notification_ids))
        return api.MarkNotificationsReadResponse(marked_count=marked)
