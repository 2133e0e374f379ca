"""The ContentService gRPC servicer: thin, mapping requests to use cases.

One proto service; its RPCs are grouped by aggregate in the servicer classes this one joins."""

from __future__ import annotations

from guild.content.v1 import content_service_pb2_grpc as api_grpc
from guild_content.app.curation import CurationUseCases
from guild_content.app.feeds import FeedUseCases
from guild_content.app.moderation import ModerationUseCases
from guild_content.app.post_search import SearchUseCases
from guild_content.app.questions import QuestionUseCases
from guild_content.app.resources import ResourceUseCases
from guild_content.app.unanswered import UnansweredQueue
from guild_content.entrypoints.grpc.curation import CurationServicer
from guild_content.entrypoints.grpc.feeds import FeedsServicer
from guild_content.entrypoints.grpc.moderation import ModerationServicer
from guild_content.entrypoints.grpc.questions import QuestionsServicer
from guild_content.entrypoints.grpc.resources import ResourcesServicer
from guild_content.entrypoints.grpc.search import SearchServicer


class ContentServicer(
    QuestionsServicer,
    SearchServicer,
    ModerationServicer,
    ResourcesServicer,
    CurationServicer,
    FeedsServicer,
    api_grpc.ContentServiceServicer,
):
    def __init__(
        self,
        questions: QuestionUseCases,
        search: SearchUseCases,
        unanswered: UnansweredQueue,
        moderation: ModerationUseCases,
        resources: ResourceUseCases,
        curation: CurationUseCases,
        feeds: FeedUseCases,
    ) -> None:
        self._questions = questions
        self._search = search
        self._unanswered = unanswered
        self._moderation = moderation
        self._resources = resources
        self._curation = curation
        self._feeds = feeds
