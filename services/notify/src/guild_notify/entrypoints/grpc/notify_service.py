"""The NotifyService gRPC servicer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from guild.notify.v1 import notify_service_pb2 as api
from guild.notify.v1 import notify_service_pb2_grpc as api_grpc
from guild_common.auth import current_principal
from guild_notify.app.broadcasts import BroadcastUseCases
from guild_notify.app.inbox import InboxUseCases
from guild_notify.app.preferences import PreferenceUseCases
from guild_notify.app.webhooks import WebhookUseCases
from guild_notify.entrypoints.grpc.notify_service_mapping import (
    broadcast_to_pb,
    change_from_pb,
    delivery_to_pb,
    group_to_pb,
    notification_to_pb,
    preferences_to_pb,
    webhook_to_pb,
)


class NotifyServicer(api_grpc.NotifyServiceServicer):
    def __init__(
        self,
        inbox: InboxUseCases,
        preferences: PreferenceUseCases,
        webhooks: WebhookUseCases,
        broadcasts: BroadcastUseCases,
    ) -> None:
        self._uc = inbox
        self._prefs = preferences
        self._webhooks = webhooks
        self._broadcasts = broadcasts

    async def ListNotifications(
        self, request: api.ListNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListNotificationsResponse:
        page = await self._uc.list_notifications(
            current_principal(), request.unread_only, request.page_size, request.page_token
        )
        return api.ListNotificationsResponse(
            notifications=[notification_to_pb(n) for n in page.items],
            next_page_token=page.next_token,
            unread_count=page.unread_count,
        )

    async def MarkNotificationsRead(
        self, request: api.MarkNotificationsReadRequest, context: grpc.aio.ServicerContext
    ) -> api.MarkNotificationsReadResponse:
        marked = await self._uc.mark_read(current_principal(), list(request.notification_ids))
        return api.MarkNotificationsReadResponse(marked_count=marked)

    async def MarkAllNotificationsRead(
        self, request: api.MarkAllNotificationsReadRequest, context: grpc.aio.ServicerContext
    ) -> api.MarkAllNotificationsReadResponse:
        return api.MarkAllNotificationsReadResponse(
            marked_count=await self._uc.mark_all_read(current_principal())
        )

    async def GetUnreadCount(
        self, request: api.GetUnreadCountRequest, context: grpc.aio.ServicerContext
    ) -> api.GetUnreadCountResponse:
        return api.GetUnreadCountResponse(unread_count=await self._uc.unread_count(current_principal()))

    async def ListNotificationGroups(
        self, request: api.ListNotificationGroupsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListNotificationGroupsResponse:
        groups, token = await self._uc.list_groups(
            current_principal(), request.unread_only, request.page_size, request.page_token
        )
        return api.ListNotificationGroupsResponse(
            groups=[group_to_pb(g) for g in groups], next_page_token=token
        )

    async def StreamNotifications(
        self, request: api.StreamNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api.StreamNotificationsResponse]:
        async def ready() -> None:
            # Headers tell the client the stream is live: anything stored from now on will arrive.
            await context.send_initial_metadata(())

        async for item in self._uc.stream(current_principal(), request.resume_token, on_ready=ready):
            yield api.StreamNotificationsResponse(
                notification=notification_to_pb(item.notification), resume_token=item.resume_token
            )

    async def GetPreferences(
        self, request: api.GetPreferencesRequest, context: grpc.aio.ServicerContext
    ) -> api.GetPreferencesResponse:
        return api.GetPreferencesResponse(
            preferences=preferences_to_pb(await self._prefs.get(current_principal()))
        )

    async def UpdatePreferences(
        self, request: api.UpdatePreferencesRequest, context: grpc.aio.ServicerContext
    ) -> api.UpdatePreferencesResponse:
        updated = await self._prefs.update(current_principal(), change_from_pb(request))
        return api.UpdatePreferencesResponse(preferences=preferences_to_pb(updated))

    async def Unsubscribe(
        self, request: api.UnsubscribeRequest, context: grpc.aio.ServicerContext
    ) -> api.UnsubscribeResponse:
        current_principal()  # any authenticated caller; the token names the member
        await self._prefs.unsubscribe(request.token)
        # Whoever holds the link learns nothing of the person: no address, no preferences.
        return api.UnsubscribeResponse()

    async def CreateWebhook(
        self, request: api.CreateWebhookRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateWebhookResponse:
        webhook = await self._webhooks.create(
            current_principal(), request.webhook.url, list(request.webhook.event_types), request.request_id
        )
        return api.CreateWebhookResponse(webhook=webhook_to_pb(webhook), secret=webhook.secret)

    async def ListWebhooks(
        self, request: api.ListWebhooksRequest, context: grpc.aio.ServicerContext
    ) -> api.ListWebhooksResponse:
        hooks, token = await self._webhooks.list_webhooks(
            current_principal(), request.page_size, request.page_token
        )
        return api.ListWebhooksResponse(webhooks=[webhook_to_pb(w) for w in hooks], next_page_token=token)

    async def DeleteWebhook(
        self, request: api.DeleteWebhookRequest, context: grpc.aio.ServicerContext
    ) -> api.DeleteWebhookResponse:
        await self._webhooks.delete(current_principal(), request.webhook_id)
        return api.DeleteWebhookResponse()

    async def ListWebhookDeliveries(
        self, request: api.ListWebhookDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> api.ListWebhookDeliveriesResponse:
        deliveries, token = await self._webhooks.deliveries(
            current_principal(), request.webhook_id, request.page_size, request.page_token
        )
        return api.ListWebhookDeliveriesResponse(
            deliveries=[delivery_to_pb(d) for d in deliveries], next_page_token=token
        )

    async def ReplayWebhookDelivery(
        self, request: api.ReplayWebhookDeliveryRequest, context: grpc.aio.ServicerContext
    ) -> api.ReplayWebhookDeliveryResponse:
        delivery = await self._webhooks.replay(current_principal(), request.delivery_id)
        return api.ReplayWebhookDeliveryResponse(delivery=delivery_to_pb(delivery))

    async def CreateBroadcast(
        self, request: api.CreateBroadcastRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateBroadcastResponse:
        given = request.broadcast
        broadcast = await self._broadcasts.create(
            current_principal(), given.community_id, given.text, given.subject_id, request.request_id
        )
        return api.CreateBroadcastResponse(broadcast=broadcast_to_pb(broadcast))
