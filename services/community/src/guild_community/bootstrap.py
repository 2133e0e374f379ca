"""Composition root of the community service."""

from __future__ import annotations

import grpc

import guild_community.adapters
from guild.community.v1 import community_service_pb2, community_service_pb2_grpc
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
from guild_community.adapters.communities_store import MongoCommunityRepository
from guild_community.adapters.experts_store import MongoExpertDirectory
from guild_community.adapters.goals_store import MongoGoalRepository
from guild_community.adapters.people_store import MongoPeopleRepository
from guild_community.adapters.pilot_store import MongoPilotControls
from guild_community.adapters.reputation_client import ReputationGoalMeasurer
from guild_community.adapters.surveys_store import MongoSurveyRepository
from guild_community.app.communities import CommunityUseCases
from guild_community.app.experts import ExpertQueries
from guild_community.app.experts_handlers import ExpertEventHandlers
from guild_community.app.goals import GoalUseCases
from guild_community.app.membership import MembershipUseCases
from guild_community.app.people import PeopleUseCases
from guild_community.app.pilot import PilotControlUseCases
from guild_community.app.surveys import SurveyUseCases
from guild_community.config import CommunitySettings
from guild_community.entrypoints.event_decoders import DECODERS
from guild_community.entrypoints.grpc.community_service import CommunityServicer

SERVICE_NAME = community_service_pb2.DESCRIPTOR.services_by_name["CommunityService"].full_name


def produced_by(table: dict[str, EventHandler], service: str) -> dict[str, EventHandler]:
    """The part of a consumer table that reads ``service``'s stream."""
    return {t: h for t, h in table.items() if t.startswith(f"guild.{service}.")}


async def build(settings: ServiceSettings, infra: Infrastructure) -> ServiceServer:
    assert isinstance(settings, CommunitySettings)
    schema = collect_schema(guild_community.adapters, extra=[StoreSchema(indexes=consumer_indexes())])
    await ensure_indexes(infra.db, schema.indexes)
    relay = await outbox_relay(infra, settings, schema.outbox_collections)
    repository = MongoCommunityRepository(infra.db, on_events=relay.wake)
    await repository.backfill()
    communities = CommunityUseCases(repository, regions=settings.regions)
    membership = MembershipUseCases(repository)
    people = PeopleUseCases(MongoPeopleRepository(infra.db, on_events=relay.wake), regions=settings.regions)
    surveys = SurveyUseCases(MongoSurveyRepository(infra.db, on_events=relay.wake), repository)
    reputation_channel = service_channel(
        settings.reputation_addr,
        service_token=settings.service_token,
        credentials=grpc_channel_credentials(settings),
    )
    controls = MongoPilotControls(infra.db, on_events=relay.wake)
    measurer = ReputationGoalMeasurer(reputation_channel)
    goals = GoalUseCases(
        MongoGoalRepository(infra.db, on_events=relay.wake),
        repository,
        measurer,
        controls=controls,
        comparer=measurer,
    )
    pilots = PilotControlUseCases(controls, repository)
    directory = MongoExpertDirectory(infra.db)
    experts = ExpertQueries(directory, communities)
    handlers = bind(DECODERS, combine(ExpertEventHandlers(directory).handlers()))
    # The expert directory learns reputation by topic from reputation's points, and who is a member and
    # what they declare from this service's own events.
    reputation_consumer = await event_consumer(
        infra, settings, source_service="reputation", handlers=produced_by(handlers, "reputation")
    )
    people_consumer = await event_consumer(
        infra, settings, source_service="community", handlers=produced_by(handlers, "community")
    )

    def register(server: grpc.aio.Server) -> list[str]:
        community_service_pb2_grpc.add_CommunityServiceServicer_to_server(
            CommunityServicer(communities, membership, people, surveys, goals, experts, pilots), server
        )
        return [SERVICE_NAME]

    return ServiceServer(
        settings,
        register=register,
        workers=[relay, reputation_consumer, people_consumer],
        healthy=infra.readiness,
        closers=[reputation_channel.close],
        idempotency=IdempotencyKeys(infra.db),
    )
