"""Application errors, independent of transport.

Use cases raise these; the gRPC layer maps them to status codes with ``ErrorInfo`` and
``BadRequest`` details (see :mod:`guild_common.grpc.status`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Most characters of a caller's value an error repeats back.
ECHO_LIMIT = 64


def shorten(value: str, limit: int = ECHO_LIMIT) -> str:
    """``value`` cut to ``limit`` characters (an ellipsis included) for repeating in an error."""
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request."""

    field: str
    description: str


@dataclass
class GuildError(Exception):
    """Base of errors a caller may see; ``reason`` is a stable UPPER_SNAKE identifier."""

    message: str
    reason: str = "ERROR"
    metadata: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


@dataclass
class InvalidArgument(GuildError):
    """The request is malformed; ``violations`` name each bad field."""

    violations: list[FieldViolation] = field(default_factory=list)
    reason: str = "INVALID_ARGUMENT"


@dataclass
class NotFound(GuildError):
    reason: str = "NOT_FOUND"


@dataclass
class AlreadyExists(GuildError):
    reason: str = "ALREADY_EXISTS"


@dataclass
class PermissionDenied(GuildError):
    reason: str = "PERMISSION_DENIED"


@dataclass
class Unauthenticated(GuildError):
    reason: str = "UNAUTHENTICATED"


@dataclass
class FailedPrecondition(GuildError):
    reason: str = "FAILED_PRECONDITION"


@dataclass
class Aborted(GuildError):
    """A concurrent change won; the caller may retry."""

    reason: str = "ABORTED"


@dataclass
class ResourceExhausted(GuildError):
    """The caller is over a limit; ``retry_after_seconds`` (when known) says when to try again."""

    reason: str = "RESOURCE_EXHAUSTED"
    retry_after_seconds: float | None = None


@dataclass
class Unavailable(GuildError):
    """A dependency is down; nothing was written."""

    reason: str = "UNAVAILABLE"


class Validator:
    """Collects field violations and raises them together."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def require(self, condition: bool, field_name: str, description: str) -> None:
        if not condition:
            self.violations.append(FieldViolation(field_name, description))

    def check(self, message: str = "request has invalid fields") -> None:
        if self.violations:
            raise InvalidArgument(message, violations=list(self.violations))
