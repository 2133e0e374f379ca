"""Conversions between Python datetimes and protobuf Timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from guild_common.errors import FieldViolation, InvalidArgument


def to_timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def optional_timestamp(value: datetime | None) -> Timestamp | None:
    """A Timestamp, or None (an unset field) for a missing time."""
    return None if value is None else to_timestamp(value)


#: Times a request may carry: wide enough for any real date, narrow enough that the services' own
#: arithmetic on them (a year before, a week after) stays inside what datetime can hold.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def request_time(message: Message, name: str) -> datetime | None:
    """The time in ``message.<name>`` (None when unset); INVALID_ARGUMENT outside 1900 to 9000."""
    if not message.HasField(name):
        return None
    stamp: Timestamp = getattr(message, name)
    try:
        value = stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        value = None
    if value is None or not EARLIEST <= value < LATEST:
        raise InvalidArgument(
            "time out of range", violations=[FieldViolation(name, "must be between the years 1900 and 9000")]
        )
    return value
