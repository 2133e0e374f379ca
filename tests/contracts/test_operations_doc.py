"""docs/operations.md names only settings, metrics, collections and fields that the code has; docs/security.md
only settings that exist, and every transport setting."""

from __future__ import annotations

import re
from pathlib import Path

from guild_common.events.consumer import DEAD_LETTERS, PROCESSED, ConsumerSpec
from guild_common.settings import ServiceSettings
from guild_community.config import CommunitySettings
from guild_content.config import ContentSettings
from guild_notify.config import NotifySettings
from guild_reputation.config import ReputationSettings

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "operations.md").read_text()
COMMON = ROOT / "libs" / "common" / "src" / "guild_common"


SETTINGS = {
    f"GUILD_{name.upper()}"
    for cls in (ServiceSettings, CommunitySettings, ContentSettings, ReputationSettings, NotifySettings)
    for name in cls.model_fields
}


def _settings_named(doc: str) -> set[str]:
    return set(re.findall(r"\bGUILD_[A-Z_]+[A-Z]\b", doc))


def test_the_security_doc_names_the_abuse_limits() -> None:
    named = _settings_named((ROOT / "docs" / "security.md").read_text())
    assert {"GUILD_MAX_STREAMS_PER_PRINCIPAL", "GUILD_WEBHOOK_DEADLINE_SECONDS"} <= named


def test_every_setting_named_exists() -> None:
    named = _settings_named(DOC)
    streams = {f"GUILD_{svc.upper()}" for svc in ("community", "content", "reputation", "notify")}
    unknown = sorted(n for n in named - streams if n not in SETTINGS)
    assert unknown == []
    assert {"GUILD_REGION_FILTER", "GUILD_PROGRAMME_FILTER", "GUILD_SHUTDOWN_GRACE_SECONDS"} <= named


def test_the_security_doc_names_every_transport_setting_and_no_other() -> None:
    named = _settings_named((ROOT / "docs" / "security.md").read_text())
    assert sorted(named - SETTINGS) == []
    transport = {
        s for s in SETTINGS if s.startswith(("GUILD_GRPC_TLS_", "GUILD_NATS_TLS", "GUILD_MONGO_TLS"))
    }
    assert transport | {"GUILD_ALLOW_PLAINTEXT", "GUILD_GRPC_HEALTH_PORT"} <= named


def test_every_metric_named_is_recorded_by_the_code() -> None:
    source = "\n".join(p.read_text() for p in COMMON.rglob("*.py"))
    named = set(re.findall(r"`(guild\.(?:rpc|events|outbox)\.[a-z_.]+)`", DOC))
    assert named == {
        "guild.rpc.server.duration",
        "guild.events.published",
        "guild.events.consumed",
        "guild.events.dead_lettered",
        "guild.outbox.backlog",
        "guild.events.consumer.pending",
    }
    for metric in named:
        assert f'"{metric}"' in source, metric
    for attribute in ("rpc.method", "rpc.grpc.status_code", "event.type", "consumer", "outcome"):
        assert f'"{attribute}"' in source
        assert f"`{attribute}`" in DOC


def test_consumer_names_and_dead_letter_fields_match() -> None:
    plain = ConsumerSpec(name="notify", source_service="content", handlers={})
    sliced = ConsumerSpec(name="reputation", source_service="content", handlers={}, region="emea")
    programme = ConsumerSpec(
        name="content", source_service="community", handlers={}, programme="healthcare_cpd"
    )
    for durable in (plain.durable, sliced.durable, programme.durable):
        assert f"`{durable}`" in DOC
    assert f"`{DEAD_LETTERS}`" in DOC
    assert f"`{PROCESSED}`" in DOC
    consumer_source = (COMMON / "events" / "consumer.py").read_text()
    fields = re.findall(
        r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)? \|", DOC.split("## Replaying a dead letter")[1], re.M
    )
    documented = {name for pair in fields for name in pair if name}
    assert documented == {
        "consumer",
        "topic",
        "headers",
        "data",
        "event_id",
        "event_type",
        "error",
        "attempts",
        "at",
    }
    for name in documented:
        assert f'"{name}":' in consumer_source, name
