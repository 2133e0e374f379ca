"""Composition root of the content service."""

from __future__ import annotations

from datetime import timedelta

import grpc

import guild_content.adapters
from guild.content.v1 import content_service_pb2, content_service_pb2_grpc
from guild_common.events.consumer import consumer_indexes
from guild_common.events.inbound import bind, combine
from guild_common.grpc.channels import service_channel
from guild_common.grpc.server import ServiceServer
from guild_common.idempotency import IdempotencyKeys
from guild_common.infrastructure import Infrastructure
from guild_common.mongo import StoreSchema, collect_schema, ensure_indexes
from guild_common.settings import ServiceSettings
from guild_common.tls import grpc_channel_credentials
from guild_common.workers import event_consumer, outbox_relay
from guild_content.adapters.community_client import ReadThroughDirectory
from guild_content.adapters.curation_store import MongoCurationRepository
from guild_content.adapters.embedding_model import WordLlamaEmbedder
from guild_content.adapters.feed_store import MongoFeedRepository
from guild_content.adapters.meaning_backfill_worker import MeaningBackfill
from guild_content.adapters.membership_store import MembershipReadModel
from guild_content.adapters.moderation_store import MongoModerationRepository
from guild_content.adapters.question_store import MongoQuestionRepository
from guild_content.adapters.resource_store import MongoResourceRepository
from guild_content.adapters.search_store import SearchIndex, SearchIndexer
from guild_content.app.curation import CurationUseCases
from guild_content.app.feed_handlers import FeedHandlers
from guild_content.app.feeds import FeedUseCases
from guild_content.app.membership_handlers import MembershipHandlers
from guild_content.app.moderation import ModerationUseCases
from guild_content.app.post_search import SearchUseCases
from guild_content.app.questions import QuestionUseCases
from guild_content.app.resources import ResourceUseCases
from guild_content.app.unanswered import UnansweredQueue
from guild_content.config import ContentSettings
from guild_content.entrypoints.event_decoders import DECODERS
from guild_content.entrypoints.grpc.content_service import ContentServicer

SERVICE_NAME = content_service_pb2.DESCRIPTOR.services_by_name["ContentService"].full_name


async def build(settings: ServiceSettings, infra: Infrastructure) -> ServiceServer:
    assert isinstance(settings, ContentSettings)
    schema = collect_schema(guild_content.adapters, extra=[StoreSchema(indexes=consumer_indexes())])
    await ensure_indexes(infra.db, schema.indexes)
    relay = await outbox_relay(infra, settings, schema.outbox_collections)
    read_model = MembershipReadModel(infra.db)
    community_channel = service_channel(
        settings.community_addr,
        service_token=settings.service_token,
        credentials=grpc_channel_credentials(settings),
    )
    questions = MongoQuestionRepository(infra.db, on_events=relay.wake)
    resources = MongoResourceRepository(infra.db, on_events=relay.wake)
    await resources.backfill()
    directory = ReadThroughDirectory(
        read_model, community_channel, recheck_seconds=settings.membership_recheck_seconds
    )
    curation_store = MongoCurationRepository(infra.db, on_events=relay.wake)
    embedder = WordLlamaEmbedder() if settings.similar_by_meaning else None
    backfill = [MeaningBackfill(infra.db, embedder)] if embedder is not None else []
    moderation_store = MongoModerationRepository(infra.db, on_events=relay.wake)
    questions_uc = QuestionUseCases(questions, directory, features=curation_store, embedder=embedder)
    search = SearchUseCases(questions, directory, resources)
    unanswered = UnansweredQueue(
        questions, directory, unanswered_after=timedelta(minutes=settings.unanswered_after_minutes)
    )
    moderation = ModerationUseCases(
        questions,
        directory,
        moderation_store,
        flag_threshold=settings.flag_threshold,
        features=curation_store,
    )
    resources_uc = ResourceUseCases(resources, directory)
    curation = CurationUseCases(curation_store, questions, resources, directory)
    feed_store = MongoFeedRepository(infra.db, on_events=relay.wake)
    await feed_store.backfill_activity_times()
    feeds = FeedUseCases(feed_store, directory)
    consumer = await event_consumer(
        infra,
        settings,
        source_service="community",
        handlers=bind(
            DECODERS,
            combine(MembershipHandlers(read_model).handlers(), FeedHandlers(feed_store).handlers()),
        ),
    )

    def register(server: grpc.aio.Server) -> list[str]:
        content_service_pb2_grpc.add_ContentServiceServicer_to_server(
            ContentServicer(questions_uc, search, unanswered, moderation, resources_uc, curation, feeds),
            server,
        )
        return [SERVICE_NAME]

    return ServiceServer(
        settings,
        register=register,
        workers=[relay, consumer, SearchIndexer(SearchIndex(infra.db)), *backfill],
        healthy=infra.readiness,
        closers=[community_channel.close],
        idempotency=IdempotencyKeys(infra.db),
    )
