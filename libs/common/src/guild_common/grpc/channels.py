"""Client channels to other Guild services, forwarding the caller's token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from guild_common.auth import peek_principal


class _ForwardToken(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds ``authorization`` from the running request's principal, or the service token."""

    def __init__(self, service_token: str) -> None:
        self._service_token = service_token

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        principal = peek_principal()
        token = principal.token if principal is not None and principal.token else self._service_token
        metadata = list(details.metadata or [])
        if token and not any(key == "authorization" for key, _ in metadata):
            metadata.append(("authorization", f"Bearer {token}"))
        new_details = grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=details.timeout,
            metadata=grpc.aio.Metadata(*metadata),
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )
        return await continuation(new_details, request)


def service_channel(
    target: str, *, service_token: str = "", credentials: grpc.ChannelCredentials | None = None
) -> grpc.aio.Channel:
    """One long-lived channel per target and process; close it with ``await channel.close()``.

    Calls are balanced round-robin over every address the target resolves to (a headless Service). With
    ``credentials`` (``guild_common.tls.grpc_channel_credentials``) the channel uses TLS, else plaintext.
    """
    options = [
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", _RETRY_POLICY),
    ]
    interceptors = [_ForwardToken(service_token)]
    if credentials is not None:
        return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)


_RETRY_POLICY = (
    '{"loadBalancingConfig": [{"round_robin": {}}],'
    ' "methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.1s",'
    ' "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}'
)
