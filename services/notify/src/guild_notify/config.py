"""Notify service settings."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr

from guild_common.settings import ServiceSettings
from guild_notify.domain.webhooks import AllowedOrigin, allow_list
from guild_notify.domain.xapi import Endpoint


class XapiEndpoint(BaseModel):
    """One Learning Record Store, as an entry of ``GUILD_XAPI_ENDPOINTS``."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    url: str = Field(pattern=r"^https?://")
    username: str = ""
    password: SecretStr = SecretStr("")

    def endpoint(self) -> Endpoint:
        return Endpoint(self.name, self.url, self.username, self.password.get_secret_value())


class NotifySettings(ServiceSettings):
    secret_fields: ClassVar[tuple[str, ...]] = (*ServiceSettings.secret_fields, "unsubscribe_secret")
    service_name: str = "notify"
    grpc_port: int = 50054
    # Open streams re-read the store this often even without a wake-up (writes by other processes).
    stream_poll_seconds: float = 2.0
    # SMTP delivery; with no host, emails wait in the queue until one is configured.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "Guild <no-reply@guild.local>"
    email_retry_base_seconds: float = 5.0
    email_retry_max_seconds: float = 900.0
    email_sweep_seconds: float = 5.0
    # How often the digest scheduler looks for a day or week whose digests are due.
    digest_check_seconds: float = 60.0
    # A question with no answer after this long is brought to its community's champions.
    unanswered_after_seconds: float = 86400.0
    nudge_sweep_seconds: float = 30.0
    # A nudge is sent no sooner than this after its question is handled, so that after a backlog of
    # events longer than the delay, the answers further down it cancel the nudge first.
    nudge_settle_seconds: float = 60.0
    # Signs unsubscribe links; set a real secret in production.
    unsubscribe_secret: str = "guild-dev-unsubscribe-secret"
    unsubscribe_base_url: str = "https://guild.local/unsubscribe"
    # Webhooks call only these origins (comma-separated): ``host`` (the scheme's default port only),
    # ``host:port``, or ``scheme://host[:port]``; http is refused unless allowed.
    webhook_allowed_hosts: str = ""
    webhook_allow_http: bool = False
    webhook_max_attempts: int = 8
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_max_seconds: float = 3600.0
    webhook_sweep_seconds: float = 5.0
    # The whole of one delivery attempt: connect, send, and the response's status and first bytes.
    webhook_deadline_seconds: float = 5.0
    # Most bytes of a response body read (the rest is never read: the connection is closed).
    webhook_max_response_bytes: int = 4096
    # Attempts in flight at once in this process, and at most this many for any one webhook.
    webhook_concurrency: int = 64
    webhook_concurrency_per_endpoint: int = 2

    # xAPI statements to Learning Record Stores: a JSON list of {name, url, username, password}; none is
    # off. Actors are accounts on the organisation's home page; activity IRIs start with the base
    # (default <homepage>/xapi/activities).
    xapi_endpoints: list[XapiEndpoint] = []
    xapi_homepage: str = "https://guild.local"
    xapi_activity_base: str = ""
    # Community ids (comma-separated) whose members' activity is never recorded.
    xapi_excluded_communities: str = ""
    xapi_max_attempts: int = 10
    xapi_retry_base_seconds: float = 5.0
    xapi_retry_max_seconds: float = 3600.0
    xapi_sweep_seconds: float = 5.0
    xapi_timeout_seconds: float = 10.0
    xapi_batch_size: int = 50

    @property
    def xapi_excluded(self) -> frozenset[str]:
        return frozenset(c.strip() for c in self.xapi_excluded_communities.split(",") if c.strip())

    @property
    def webhook_hosts(self) -> tuple[AllowedOrigin, ...]:
        return allow_list(self.webhook_allowed_hosts.split(","))
