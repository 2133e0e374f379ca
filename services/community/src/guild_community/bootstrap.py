"""Composition root of the community service."""

from __future__ import annotations

import grpc

from guild.community.v1 import community_service_pb2, community_service_pb2_grpc
from guild_common.grpc.server import ServiceServer
from guild_common.infrastructure import Infrastructure
from guild_common.mongo import ensure_indexes
from guild_common.settings import ServiceSettings
from guild_common.workers import outbox_relay
from guild_community.adapters.mongo_goals import GOAL_INDEXES, MongoGoalRepository
from guild_community.adapters.mongo_people import (
    PEOPLE_INDEXES,
    PEOPLE_OUTBOX_COLLECTIONS,
    MongoPeopleRepository,
)
from guild_community.adapters.mongo_repository import INDEXES, OUTBOX_COLLECTIONS, MongoCommunityRepository
from guild_community.adapters.mongo_surveys import (
    SURVEY_INDEXES,
    SURVEY_OUTBOX_COLLECTIONS,
    MongoSurveyRepository,
)
from guild_community.app.goals import GoalUseCases
from guild_community.app.people import PeopleUseCases
from guild_community.app.surveys import SurveyUseCases
from guild_community.app.use_cases import CommunityUseCases
from guild_community.config import CommunitySettings
from guild_community.entrypoints.grpc_api import CommunityServicer

SERVICE_NAME = community_service_pb2.DESCRIPTOR.services_by_name["CommunityService"].full_name


async def build(settings: ServiceSettings, infra: Infrastructure) -> ServiceServer:
    assert isinstance(settings, CommunitySettings)
    await ensure_indexes(infra.db, [*INDEXES, *PEOPLE_INDEXES, *SURVEY_INDEXES, *GOAL_INDEXES])
    relay = await outbox_relay(
        infra, settings, [*OUTBOX_COLLECTIONS, *PEOPLE_OUTBOX_COLLECTIONS, *SURVEY_OUTBOX_COLLECTIONS]
    )
    repository = MongoCommunityRepository(infra.db, on_events=relay.wake)
    await repository.backfill()
    use_cases = CommunityUseCases(repository, regions=settings.regions)
    people = PeopleUseCases(MongoPeopleRepository(infra.db, on_events=relay.wake), regions=settings.regions)
    surveys = SurveyUseCases(MongoSurveyRepository(infra.db, on_events=relay.wake), repository)
    goals = GoalUseCases(MongoGoalRepository(infra.db), repository)

    def register(server: grpc.aio.Server) -> list[str]:
        community_service_pb2_grpc.add_CommunityServiceServicer_to_server(
            CommunityServicer(use_cases, people, surveys, goals), server
        )
        return [SERVICE_NAME]

    return ServiceServer(settings, register=register, workers=[relay], healthy=infra.healthy)
