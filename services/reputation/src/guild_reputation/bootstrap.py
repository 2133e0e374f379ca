"""Composition root of the reputation service."""

from __future__ import annotations

from datetime import timedelta

import grpc
import structlog

from guild.reputation.v1 import reputation_service_pb2, reputation_service_pb2_grpc
from guild_common.clock import utc_now
from guild_common.events.consumer import EventHandler, consumer_indexes
from guild_common.events.inbound import bind, combine
from guild_common.grpc.channels import service_channel
from guild_common.grpc.server import ServiceServer
from guild_common.idempotency import IdempotencyKeys
from guild_common.infrastructure import Infrastructure
from guild_common.mongo import StoreSchema, collect_schema, ensure_indexes
from guild_common.settings import ServiceSettings
from guild_common.tls import grpc_channel_credentials
from guild_common.workers import event_consumer, outbox_relay
from guild_reputation import adapters
from guild_reputation.adapters.badges_store import MongoBadges
from guild_reputation.adapters.board_snapshots_store import MongoBoardSnapshots, slice_of
from guild_reputation.adapters.community_client import ReadThroughRoles
from guild_reputation.adapters.cpd_store import MongoCpd
from guild_reputation.adapters.custom_badges_store import MongoBadgeDefinitions
from guild_reputation.adapters.insights_store import MongoInsights
from guild_reputation.adapters.ledger_store import MongoLedger
from guild_reputation.adapters.pilot_store import MongoPilot
from guild_reputation.adapters.points_rules_store import MongoPointsRules
from guild_reputation.adapters.post_tags_store import MongoPostTags
from guild_reputation.adapters.ratings_store import MongoRatings
from guild_reputation.adapters.recognition_store import MongoRecognition
from guild_reputation.adapters.roles_store import RoleReadModel
from guild_reputation.adapters.visibility_store import VisibilityReadModel
from guild_reputation.adapters.waits_store import MongoWaits
from guild_reputation.app.access import CommunityReaders
from guild_reputation.app.badges import BadgeRules, BadgeUseCases
from guild_reputation.app.badges_handlers import CuratorRules
from guild_reputation.app.boards import BoardSnapshotter, LiveBoards, restore_boards
from guild_reputation.app.boards_handlers import PointsFollower
from guild_reputation.app.cpd import CpdUseCases, CreditCounter
from guild_reputation.app.cpd_handlers import CpdCredits
from guild_reputation.app.custom_badges import BadgeDefinitionUseCases
from guild_reputation.app.custom_badges_handlers import CustomBadgeRules
from guild_reputation.app.insights import InsightsQueries
from guild_reputation.app.insights_handlers import InsightsHandlers
from guild_reputation.app.leaderboards import LeaderboardQueries, TagQueries
from guild_reputation.app.ledger_handlers import ContentEventHandlers
from guild_reputation.app.membership_handlers import CommunityEventHandlers
from guild_reputation.app.pilot import PilotComparisons
from guild_reputation.app.pilot_handlers import PilotHandlers
from guild_reputation.app.points_rules import PointsRulesUseCases
from guild_reputation.app.recognition import RecognitionUseCases
from guild_reputation.app.recognition_handlers import RecognitionHandlers
from guild_reputation.app.visibility import Visibility
from guild_reputation.config import ReputationSettings
from guild_reputation.domain.cpd import Evidence
from guild_reputation.domain.credential_signing import load_signing_key
from guild_reputation.domain.credentials import Issuer
from guild_reputation.domain.insights import Weeks
from guild_reputation.domain.leaderboard import Leaderboards
from guild_reputation.domain.periods import Calendar
from guild_reputation.domain.rules import PointsTable
from guild_reputation.entrypoints.event_decoders import DECODERS
from guild_reputation.entrypoints.grpc.reputation_service import ReputationServicer
from guild_reputation.entrypoints.points_stream import PointsStream

SERVICE_NAME = reputation_service_pb2.DESCRIPTOR.services_by_name["ReputationService"].full_name
log = structlog.get_logger("guild.reputation")
# How far before the rebuild the points stream starts, for clocks and writes in flight.
FOLLOW_MARGIN = timedelta(seconds=10)


async def build(settings: ServiceSettings, infra: Infrastructure) -> ServiceServer:
    assert isinstance(settings, ReputationSettings)
    schema = collect_schema(adapters, extra=[StoreSchema(indexes=consumer_indexes())])
    await ensure_indexes(infra.db, schema.indexes)
    relay = await outbox_relay(infra, settings, schema.outbox_collections)
    calendar = Calendar(settings.leaderboard_timezone)
    snapshotting = settings.leaderboard_snapshot_minutes > 0
    ledger = MongoLedger(infra.db, on_events=relay.wake, calendar=calendar)
    live = LiveBoards(Leaderboards(), calendar)
    snapshots = MongoBoardSnapshots(infra.db, slice_of(settings.region_filter, settings.programme_filter))
    if await ledger.migrate_totals():
        await snapshots.discard()
    counters = await ledger.migrate_counters()
    if counters:
        log.info("ledger counters built from the ledger", counters=counters)
    since = utc_now() - FOLLOW_MARGIN
    margin = timedelta(seconds=settings.leaderboard_snapshot_margin_seconds)
    restored = await restore_boards(ledger, snapshots, live, margin=margin)
    log.info(
        "leaderboards rebuilt",
        snapshot_id=restored.snapshot_id,
        from_snapshot=restored.from_snapshot,
        totals=restored.from_totals,
    )
    snapshotter: list[BoardSnapshotter] = []
    if snapshotting:
        snapshotter.append(
            BoardSnapshotter(
                live,
                snapshots,
                ledger,
                interval=timedelta(minutes=settings.leaderboard_snapshot_minutes),
                margin=margin,
                chunk=settings.leaderboard_snapshot_chunk,
            )
        )
    points = PointsTable(
        question_asked=settings.points_question_asked,
        answer_posted=settings.points_answer_posted,
        answer_accepted=settings.points_answer_accepted,
        upvote_received=settings.points_upvote_received,
        collection_followed=settings.points_collection_followed,
        resource_shared=settings.points_resource_shared,
        resource_rated=settings.points_resource_rated,
        survey_answered=settings.points_survey_answered,
        daily_caps=dict(settings.points_daily_cap),
    )
    rules = MongoPointsRules(infra.db)
    badges = MongoBadges(infra.db, on_events=relay.wake)
    facts = await badges.migrate_fact_sets()
    if facts:
        log.info("badge fact sets built from the facts", facts=facts)
    role_model = RoleReadModel(infra.db)
    visibility_model = VisibilityReadModel(infra.db)
    weeks = Weeks(settings.leaderboard_timezone)
    insights = MongoInsights(infra.db, weeks)
    insight_handlers = InsightsHandlers(insights)
    pilot = MongoPilot(infra.db, weeks)
    recognition = MongoRecognition(infra.db, on_events=relay.wake)
    recognition_handlers = RecognitionHandlers(recognition)
    post_tags = MongoPostTags(infra.db)
    definitions = MongoBadgeDefinitions(infra.db)
    ticks = await definitions.migrate_counts()
    if ticks:
        log.info("custom badge counters built from the ticks", ticks=ticks)
    ratings = MongoRatings(infra.db)
    cpd_store = MongoCpd(infra.db, on_events=relay.wake)
    cpd_counter = CreditCounter(cpd_store)
    cpd_credits = CpdCredits(cpd_store, cpd_counter, Evidence(settings.cpd_evidence_base_url))
    points_handlers = ContentEventHandlers(
        ledger,
        live,
        points,
        rules,
        post_tags,
        BadgeRules(badges, calendar),
        ratings,
        MongoWaits(infra.db),
        tags_wait=timedelta(seconds=settings.unknown_question_wait_seconds),
    )
    community_channel = service_channel(
        settings.community_addr,
        service_token=settings.service_token,
        credentials=grpc_channel_credentials(settings),
    )
    # Each event's handlers run in this order (content's: points, custom badges, insights, recognition,
    # curator, CPD; community's: roles, insights, pilot, recognition, points, CPD).
    handlers = bind(
        DECODERS,
        combine(
            CommunityEventHandlers(role_model, visibility_model).handlers(),
            points_handlers.handlers(),
            CustomBadgeRules(definitions, badges, post_tags, calendar).handlers(),
            insight_handlers.handlers(),
            PilotHandlers(pilot).handlers(),
            recognition_handlers.handlers(),
            CuratorRules(badges, ratings).handlers(),
            cpd_credits.handlers(),
        ),
    )
    content_consumer = await event_consumer(
        infra, settings, source_service="content", handlers=from_service("content", handlers)
    )
    community_consumer = await event_consumer(
        infra, settings, source_service="community", handlers=from_service("community", handlers)
    )
    points_stream = PointsStream(
        infra.js,
        PointsFollower(ledger, live),
        since=since,
        region=settings.region_filter,
        programme=settings.programme_filter,
    )
    roles = ReadThroughRoles(role_model, community_channel)
    visibility = Visibility(visibility_model, insights, roles)
    use_cases = PointsRulesUseCases(rules, roles, points, visibility)
    badge_use_cases = BadgeUseCases(badges, roles, visibility)
    readers = CommunityReaders(visibility, roles)
    definition_use_cases = BadgeDefinitionUseCases(
        definitions,
        badges,
        roles,
        Issuer(settings.badge_issuer_url, settings.badge_issuer_name),
        readers,
        visibility,
        signing_key=load_signing_key(settings.badge_signing_key) if settings.badge_signing_key else None,
    )

    def register(server: grpc.aio.Server) -> list[str]:
        reputation_service_pb2_grpc.add_ReputationServiceServicer_to_server(
            ReputationServicer(
                LeaderboardQueries(live, visibility),
                use_cases,
                badge_use_cases,
                InsightsQueries(insights, weeks, readers, visibility),
                RecognitionUseCases(recognition, roles, visibility),
                TagQueries(ledger, readers),
                definition_use_cases,
                pilots=PilotComparisons(pilot, readers, visibility),
                cpd=CpdUseCases(
                    cpd_store,
                    cpd_counter,
                    roles,
                    visibility,
                    issuer=settings.badge_issuer_name,
                    export_max=settings.cpd_export_max,
                ),
            ),
            server,
        )
        return [SERVICE_NAME]

    return ServiceServer(
        settings,
        register=register,
        workers=[relay, content_consumer, community_consumer, points_stream, *snapshotter],
        healthy=infra.readiness,
        closers=[community_channel.close],
        idempotency=IdempotencyKeys(infra.db),
    )


def from_service(service: str, handlers: dict[str, EventHandler]) -> dict[str, EventHandler]:
    """The handlers of the events ``service`` produces (``guild.<service>.<name>.v<n>``)."""
    return {event_type: h for event_type, h in handlers.items() if event_type.startswith(f"guild.{service}.")}
