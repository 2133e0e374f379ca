"""Composition root of the reputation service."""

from __future__ import annotations

import grpc
import structlog

from guild.reputation.v1 import reputation_service_pb2, reputation_service_pb2_grpc
from guild_common.events.consumer import consumer_indexes
from guild_common.grpc.server import ServiceServer
from guild_common.infrastructure import Infrastructure
from guild_common.mongo import ensure_indexes
from guild_common.settings import ServiceSettings
from guild_common.workers import event_consumer, outbox_relay
from guild_reputation.adapters.mongo_ledger import INDEXES, OUTBOX_COLLECTIONS, MongoLedger
from guild_reputation.app.event_handlers import ContentEventHandlers, rebuild_boards
from guild_reputation.app.queries import LeaderboardQueries
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.leaderboard import Leaderboards
from guild_reputation.domain.rules import PointsTable
from guild_reputation.entrypoints.grpc_api import ReputationServicer

SERVICE_NAME = reputation_service_pb2.DESCRIPTOR.services_by_name["ReputationService"].full_name
log = structlog.get_logger("guild.reputation")


async def build(settings: ServiceSettings, infra: Infrastructure) -> ServiceServer:
    assert isinstance(settings, ReputationSettings)
    await ensure_indexes(infra.db, [*INDEXES, *consumer_indexes()])
    relay = await outbox_relay(infra, settings, OUTBOX_COLLECTIONS)
    ledger = MongoLedger(infra.db, on_events=relay.wake)
    boards = Leaderboards()
    loaded = await rebuild_boards(ledger, boards)
    log.info("leaderboards rebuilt", totals=loaded)
    points = PointsTable(
        question_asked=settings.points_question_asked,
        answer_posted=settings.points_answer_posted,
        answer_accepted=settings.points_answer_accepted,
    )
    consumer = await event_consumer(
        infra,
        settings,
        source_service="content",
        handlers=ContentEventHandlers(ledger, boards, points).handlers(),
    )

    def register(server: grpc.aio.Server) -> list[str]:
        reputation_service_pb2_grpc.add_ReputationServiceServicer_to_server(
            ReputationServicer(LeaderboardQueries(boards)), server
        )
        return [SERVICE_NAME]

    return ServiceServer(settings, register=register, workers=[relay, consumer], healthy=infra.healthy)
