"""Every port the use cases call (``Protocol``) and the values they exchange, by aggregate."""

from __future__ import annotations

from guild_reputation.app.ports.badges import BadgeDefinitions, BadgeStore, CuratedCollection, Ratings
from guild_reputation.app.ports.boards import BoardChunk, BoardSnapshots, SnapshotHead
from guild_reputation.app.ports.community import (
    CommunityVisibilities,
    KnownCommunities,
    RoleDirectory,
    RoleWriter,
    VisibilityWriter,
)
from guild_reputation.app.ports.cpd import CpdStore
from guild_reputation.app.ports.insights import InsightsStore, PilotStore
from guild_reputation.app.ports.ledger import (
    REMOVED_FIELD,
    Guard,
    Ledger,
    PointsRules,
    PostTags,
    StaleDecision,
    TagTotal,
    TargetState,
    Total,
    Waits,
)
from guild_reputation.app.ports.recognition import RecognitionStore

__all__ = [
    "REMOVED_FIELD",
    "BadgeDefinitions",
    "BadgeStore",
    "BoardChunk",
    "BoardSnapshots",
    "CommunityVisibilities",
    "CpdStore",
    "CuratedCollection",
    "Guard",
    "InsightsStore",
    "KnownCommunities",
    "Ledger",
    "PilotStore",
    "PointsRules",
    "PostTags",
    "Ratings",
    "RecognitionStore",
    "RoleDirectory",
    "RoleWriter",
    "SnapshotHead",
    "StaleDecision",
    "TagTotal",
    "TargetState",
    "Total",
    "VisibilityWriter",
    "Waits",
]
