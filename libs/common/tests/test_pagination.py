"""Signed page tokens: whatever is not a token this deployment made is INVALID_ARGUMENT."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest

from guild_common import pagination
from guild_common.errors import InvalidArgument
from guild_common.pagination import configure_page_tokens, decode_token, encode_token


@pytest.fixture(autouse=True)
def _restore_key() -> Iterator[None]:
    yield
    configure_page_tokens(pagination.DEV_PAGE_TOKEN_SECRET)


def test_a_token_round_trips() -> None:
    position = {"t": "2026-01-01T00:00:00+00:00", "id": "p1"}
    assert decode_token(encode_token(position)) == position
    assert decode_token("") == {}


def _forge(position: object) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")
    return f"{payload}.AAAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "!!",
        "a.b.c",
        "\u200b.\u200b",
        "é" * 10,
        "x" * 5000,
        _forge({"v": {"$ne": None}, "id": "p1"}),
        base64.urlsafe_b64encode(b'{"v":1,"id":"p1"}').decode(),
        encode_token({"v": 1, "id": "p1"})[:-2],
        encode_token({"v": 1, "id": "p1"}) + "A",
    ],
)
def test_a_forged_or_malformed_token_is_invalid_argument_on_its_field(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_token(token, "resume_token")
    assert [v.field for v in caught.value.violations] == ["resume_token"]


def test_an_edited_payload_fails_the_signature() -> None:
    _, _, tag = encode_token({"v": 1, "id": "p1"}).partition(".")
    edited = base64.urlsafe_b64encode(b'{"id":"p1","v":{"$ne":null}}').decode().rstrip("=")
    with pytest.raises(InvalidArgument):
        decode_token(f"{edited}.{tag}")


def test_a_token_of_another_secret_is_refused_and_replicas_sharing_one_agree() -> None:
    configure_page_tokens("replica-secret")
    token = encode_token({"v": 1, "id": "p1"})
    configure_page_tokens("other-deployment")
    with pytest.raises(InvalidArgument):
        decode_token(token)
    configure_page_tokens("replica-secret")
    assert decode_token(token) == {"v": 1, "id": "p1"}


def test_a_signed_non_object_is_invalid() -> None:
    configure_page_tokens("test-secret")
    payload = base64.urlsafe_b64encode(b"[1,2]").decode().rstrip("=")
    # Signed as the module's docstring says: the first 16 bytes of HMAC-SHA256 over the payload.
    tag = hmac.new(b"test-secret", payload.encode(), hashlib.sha256).digest()[:16]
    token = f"{payload}.{base64.urlsafe_b64encode(tag).decode().rstrip('=')}"
    with pytest.raises(InvalidArgument):
        decode_token(token)
