"""Reputation service settings."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from guild_common.settings import ServiceSettings


class ReputationSettings(ServiceSettings):
    secret_fields: ClassVar[tuple[str, ...]] = (*ServiceSettings.secret_fields, "service_token")
    service_name: str = "reputation"
    grpc_port: int = 50053
    # Every ledger write is guarded in the store, so events of different subjects are handled at once:
    # a whole fetched batch, whose ledger writes and counter reads then go to the store together.
    consumer_concurrency: int = 64
    points_question_asked: int = 2
    points_answer_posted: int = 5
    points_answer_accepted: int = 15
    points_upvote_received: int = 10
    points_collection_followed: int = 3
    points_resource_shared: int = 5
    points_resource_rated: int = 3
    points_survey_answered: int = 2
    # Most points one member can earn by a rule in a day, per community (JSON object; 0 or absent: no cap).
    points_daily_cap: dict[str, int] = Field(default_factory=lambda: {"upvote_received": 200})
    # How long an event about a question not heard of yet is delivered again (waiting for its tags)
    # before it is recorded without them.
    unknown_question_wait_seconds: float = 2.0
    # Time zone of the calendar weeks and months of the leaderboards, and of the daily caps.
    leaderboard_timezone: str = "UTC"
    # Boards snapshots: written every so many minutes (and at graceful shutdown; 0: never; the same on
    # every replica), in chunks of so many (member, points) pairs; at start the newest is loaded, then the
    # totals written since it, from this many seconds before it on.
    leaderboard_snapshot_minutes: float = 10.0
    leaderboard_snapshot_chunk: int = 20_000
    leaderboard_snapshot_margin_seconds: float = 300.0
    # The issuer named in exported Open Badges credentials (GUILD_BADGE_ISSUER_URL, GUILD_BADGE_ISSUER_NAME).
    badge_issuer_url: str = "https://guild.example.org"
    badge_issuer_name: str = "Guild"
    # The organisation's private key (PEM: EC P-256, RSA or Ed25519) that signs exported credentials;
    # empty: credentials are exported unsigned.
    badge_signing_key: str = ""
    # The community service, asked when the local role read model has not heard of someone yet.
    community_addr: str = "127.0.0.1:50051"
    # CPD evidence links point at this web address (questions, resources, surveys, collections under it).
    cpd_evidence_base_url: str = "https://guild.example.org"
    # Most credits one CPD export holds.
    cpd_export_max: int = 5_000
