"""The gRPC stubs the console reads through: one channel per service for the process's life."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from guild.community.v1 import community_service_pb2_grpc as community_grpc
from guild.reputation.v1 import reputation_service_pb2_grpc as reputation_grpc
from guild_common.grpc.channels import service_channel
from guild_common.tls import grpc_channel_credentials
from guild_console.config import ConsoleSettings


@dataclass
class Backends:
    community: community_grpc.CommunityServiceStub
    reputation: reputation_grpc.ReputationServiceStub
    timeout: float
    _channels: tuple[grpc.aio.Channel, ...]

    @classmethod
    def open(cls, settings: ConsoleSettings) -> Backends:
        """Channels without a service token: every call carries the viewer's token alone."""
        credentials = grpc_channel_credentials(settings)
        community = service_channel(settings.community_addr, credentials=credentials)
        reputation = service_channel(settings.reputation_addr, credentials=credentials)
        return cls(
            community=community_grpc.CommunityServiceStub(community),
            reputation=reputation_grpc.ReputationServiceStub(reputation),
            timeout=settings.call_timeout_seconds,
            _channels=(community, reputation),
        )

    async def aclose(self) -> None:
        for channel in self._channels:
            await channel.close()
