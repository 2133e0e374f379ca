"""Open Badges 3.0: an award as an OpenBadgeCredential (W3C Verifiable Credentials data model v2). Pure.

The credential itself carries no proof; ``credential_signing`` secures it as a VC-JWT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from guild_reputation.domain.badges import Award

CONTEXT = [
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
]


@dataclass(frozen=True)
class Issuer:
    url: str
    name: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _segment(value: str) -> str:
    return quote(value, safe="")


def achievement_id(issuer: Issuer, award: Award) -> str:
    base = f"{issuer.url.rstrip('/')}/communities/{_segment(award.community_id)}/achievements"
    if award.definition_id:
        return f"{base}/custom/{_segment(award.definition_id)}"
    return f"{base}/{_segment(award.badge)}/{award.tier.value}"


def open_badge_credential(award: Award, issuer: Issuer) -> dict[str, Any]:
    subject: dict[str, Any] = {
        "type": ["AchievementSubject"],
        "identifier": [
            {
                "type": "IdentityObject",
                "identityType": "identifier",
                "hashed": False,
                "identityHash": award.member_id,
            }
        ],
        "achievement": {
            "id": achievement_id(issuer, award),
            "type": ["Achievement"],
            "achievementType": "Badge",
            "name": award.title,
            "description": award.summary,
            "criteria": {"narrative": award.narrative},
        },
    }
    if award.citation:
        subject["narrative"] = award.citation
    return {
        "@context": list(CONTEXT),
        "id": f"{issuer.url.rstrip('/')}/credentials/{_segment(award.id)}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": issuer.url, "type": ["Profile"], "name": issuer.name},
        "validFrom": _iso(award.time),
        "awardedDate": _iso(award.time),
        "name": award.title,
        "credentialSubject": subject,
    }
