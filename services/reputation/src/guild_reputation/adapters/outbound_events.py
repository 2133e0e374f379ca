"""The events reputation publishes, from its domain values to CloudEvents envelopes with protobuf payloads.

Each carries the trace context of the write that raised it, so one trace runs on to the consumers."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.message import Message

from guild.events.v1 import reputation_events_pb2 as pb
from guild_common.events.envelope import Envelope
from guild_common.events.outbox import traced_envelope
from guild_common.prototime import to_timestamp
from guild_reputation.domain.badges import Award
from guild_reputation.domain.cpd import CpdCredit
from guild_reputation.domain.recognition import ContributionSummary
from guild_reputation.domain.rules import LedgerEntry

SERVICE = "reputation"


def _envelope(name: str, payload: Message, subject: str, region: str, programme: str) -> Envelope:
    return traced_envelope(
        service=SERVICE, name=name, payload=payload, subject=subject, region=region, programme=programme
    )


def points_changed(entry: LedgerEntry, region: str, programme: str) -> list[Envelope]:
    """The events of a ledger entry (one ``points_changed``)."""
    payload = pb.PointsChanged(
        entry_id=entry.id,
        community_id=entry.community_id,
        member_id=entry.member_id,
        amount=entry.amount,
        rule=entry.rule.value,
        source_event_id=entry.source_event_id,
        target_id=entry.target_id,
        time=to_timestamp(entry.time),
        tags=list(entry.tags),
    )
    return [_envelope("points_changed", payload, entry.member_id, region, programme)]


def badge_awarded(award: Award, region: str, programme: str) -> Envelope:
    payload = pb.BadgeAwarded(
        award_id=award.id,
        community_id=award.community_id,
        member_id=award.member_id,
        badge=award.badge,
        tier=award.tier.value,
        title=award.title,
        citation=award.citation,
        granted_by=award.granted_by,
        source_event_id=award.source_event_id,
        award_time=to_timestamp(award.time),
        definition_id=award.definition_id,
    )
    return _envelope("badge_awarded", payload, award.member_id, region, programme)


def cpd_credit_recorded(credit: CpdCredit, at: datetime) -> Envelope:
    """A credit counted at ``at``, under the region and programme of the event that earned it."""
    payload = pb.CpdCreditRecorded(
        credit_id=credit.id,
        community_id=credit.community_id,
        member_id=credit.member_id,
        activity=credit.activity.value,
        minutes=credit.minutes,
        cpd_year=credit.cpd_year,
        evidence_url=credit.evidence_url,
        source_event_id=credit.source_event_id,
        activity_time=to_timestamp(credit.time),
        record_time=to_timestamp(at),
        description=credit.description,
    )
    return _envelope(
        "cpd_credit_recorded",
        payload,
        credit.member_id,
        credit.region or "unknown",
        credit.programme or "unknown",
    )


def recognition_summary_issued(
    summary_id: str,
    summary: ContributionSummary,
    requested_by: str,
    region: str,
    programme: str,
    at: datetime,
) -> Envelope:
    payload = pb.RecognitionSummaryIssued(
        summary_id=summary_id,
        member_id=summary.member_id,
        requested_by=requested_by,
        start_time=to_timestamp(summary.start),
        end_time=to_timestamp(summary.end),
        questions=summary.questions,
        answers=summary.answers,
        accepted_answers=summary.accepted_answers,
        comments=summary.comments,
        resources_shared=summary.resources_shared,
        resource_average_rating=summary.resource_average_rating,
        badges=[award.title for award in summary.badges],
        top_tags=[tag for tag, _ in summary.top_tags],
        community_ids=summary.community_ids,
        roles=[f"{r.community_id}:{r.role}" for r in summary.roles],
        issue_time=to_timestamp(at),
        collections_curated=summary.collections_curated,
    )
    return _envelope("recognition_summary_issued", payload, summary.member_id, region, programme)
