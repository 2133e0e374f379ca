"""Composition root of the notify service."""

from __future__ import annotations

import grpc

from guild.notify.v1 import notify_service_pb2, notify_service_pb2_grpc
from guild_common.events.consumer import consumer_indexes
from guild_common.grpc.server import ServiceServer
from guild_common.infrastructure import Infrastructure
from guild_common.mongo import ensure_indexes
from guild_common.settings import ServiceSettings
from guild_common.workers import event_consumer
from guild_notify.adapters.mongo_inbox import INDEXES, MongoInbox
from guild_notify.app.event_handlers import ContentEventHandlers
from guild_notify.app.use_cases import InboxUseCases
from guild_notify.config import NotifySettings
from guild_notify.entrypoints.grpc_api import NotifyServicer

SERVICE_NAME = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name


async def build(settings: ServiceSettings, infra: Infrastructure) -> ServiceServer:
    assert isinstance(settings, NotifySettings)
    await ensure_indexes(infra.db, [*INDEXES, *consumer_indexes()])
    inbox = MongoInbox(infra.db)
    consumer = await event_consumer(
        infra, settings, source_service="content", handlers=ContentEventHandlers(inbox).handlers()
    )

    def register(server: grpc.aio.Server) -> list[str]:
        notify_service_pb2_grpc.add_NotifyServiceServicer_to_server(
            NotifyServicer(InboxUseCases(inbox)), server
        )
        return [SERVICE_NAME]

    return ServiceServer(settings, register=register, workers=[consumer], healthy=infra.healthy)
