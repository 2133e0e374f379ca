"""Checks every request gets before its handler runs, from the message's descriptor alone.

- An enum field holding a number its enum does not define (proto3 keeps such numbers) is invalid.
- A ``google.protobuf.Timestamp`` must lie in years 1 to 9999 with nanos in 0..999,999,999 (the range
  ``ToDatetime`` and the store accept); a ``Duration`` within the range the well-known type allows.
- No string may hold NUL: the store cannot keep it and C libraries would cut the value there.
- An id (a string field named ``id``, ``*_id`` or ``*_ids``) is at most ``ID_MAX`` characters: no id Guild
  makes is longer, and a longer one is refused rather than looked up, stored or repeated in errors.

Field paths in the violations are dotted (``goal.deadline``, ``answers[2].kind``). Services keep their
own checks of meaning (lengths, character policy of names, ranges of numbers).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from guild_common.errors import FieldViolation, InvalidArgument

#: Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
TIMESTAMP_MIN_SECONDS = -62_135_596_800
TIMESTAMP_MAX_SECONDS = 253_402_300_799
DURATION_MAX_SECONDS = 315_576_000_000
NANOS_MAX = 999_999_999
#: Longest id accepted: member ids are at most 128 characters, and composed ids (``<member>:<caller>:<key>``)
#: stay well below this.
ID_MAX = 512
#: At most this many violations are collected from one request.
_MAX_VIOLATIONS = 20


def _timestamp_problem(message: Any) -> str:
    if not TIMESTAMP_MIN_SECONDS <= message.seconds <= TIMESTAMP_MAX_SECONDS:
        return "must be between years 1 and 9999"
    if not 0 <= message.nanos <= NANOS_MAX:
        return "nanos must be between 0 and 999999999"
    return ""


def _duration_problem(message: Any) -> str:
    seconds, nanos = message.seconds, message.nanos
    if not -DURATION_MAX_SECONDS <= seconds <= DURATION_MAX_SECONDS or not -NANOS_MAX <= nanos <= NANOS_MAX:
        return "out of range"
    if (seconds > 0 and nanos < 0) or (seconds < 0 and nanos > 0):
        return "seconds and nanos must have the same sign"
    return ""


_WELL_KNOWN = {
    "google.protobuf.Timestamp": _timestamp_problem,
    "google.protobuf.Duration": _duration_problem,
}


def _items(field: FieldDescriptor, value: Any, path: str) -> Iterable[tuple[str, Any]]:
    if field.is_repeated:
        for index, item in enumerate(value):
            yield f"{path}[{index}]", item
    else:
        yield path, value


def _walk(message: Message, prefix: str, out: list[FieldViolation]) -> None:
    for field, value in message.ListFields():
        if len(out) >= _MAX_VIOLATIONS:
            return
        path = f"{prefix}{field.name}"
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if key_field.type == FieldDescriptor.TYPE_STRING and "\x00" in key:
                    out.append(FieldViolation(path, "keys must not contain NUL characters"))
                _check_value(value_field, item, f"{path}[{str(key)[:40]!r}]", out)
            continue
        for item_path, item in _items(field, value, path):
            _check_value(field, item, item_path, out)


def _check_value(field: FieldDescriptor, value: Any, path: str, out: list[FieldViolation]) -> None:
    enum_type, message_type = field.enum_type, field.message_type
    if enum_type is not None:
        if enum_type.values_by_number.get(value) is None:
            out.append(FieldViolation(path, f"unknown {enum_type.name} value {value}"))
    elif field.type == FieldDescriptor.TYPE_STRING:
        if "\x00" in value:
            out.append(FieldViolation(path, "must not contain NUL characters"))
        if len(value) > ID_MAX and _is_id(field.name):
            out.append(FieldViolation(path, f"at most {ID_MAX} characters"))
    elif message_type is not None:
        problem = _WELL_KNOWN.get(message_type.full_name)
        if problem is not None:
            text = problem(value)
            if text:
                out.append(FieldViolation(path, text))
        else:
            _walk(value, f"{path}.", out)


def _is_id(name: str) -> bool:
    return name == "id" or name.endswith(("_id", "_ids"))


def check_request(message: Message) -> None:
    """Raise :class:`InvalidArgument` naming each field of ``message`` that no handler should see."""
    violations: list[FieldViolation] = []
    _walk(message, "", violations)
    if violations:
        raise InvalidArgument("request has invalid fields", violations=violations)
