"""What is written comes back exactly: every BSON type the store keeps, nested and in arrays, through the
store's document decoder (``deploy/local/ferretdb/patches/sqlite-fast-document-decoding.patch``), read
whole, projected, filtered and after an update."""

from __future__ import annotations

import datetime
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import Binary, Int64, ObjectId, Regex, Timestamp
from bson.codec_options import CodecOptions
from pymongo import MongoClient
from pymongo.collection import Collection

from guild_testing.servers import FerretServer

pytestmark = pytest.mark.servers

STRINGS = [
    "",
    "plain",
    "héllo wörld",
    "emoji 😀 and 𝄞",
    'quote " back \\ slash / solidus',
    "control \x01\x1f\t\n\r",
    "line sep \u2028 para \u2029",
    "<script>&amp;</script>",
    "zero\u200bwidth",
    "long " + "x" * 3000,
]
# -0.0 is left out: FerretDB 1.24 stores it as 0.0 (its encoder, unchanged by the patches).
DOUBLES = [0.0, -1.5, 1e300, 5e-324, 1.7976931348623157e308, 3.141592653589793, 42.0, 1e-7, 123456789.125]
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


def _value(rng: random.Random, depth: int, in_array: bool = False) -> Any:
    # the store keeps no array directly inside an array
    kinds = 11 if depth >= 3 else 12 if in_array else 13
    match rng.randrange(kinds):
        case 0:
            return rng.choice(DOUBLES)
        case 1:
            return rng.choice(STRINGS)
        case 2:
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(20)))
            return Binary(payload, rng.choice([0, 4, 5, 128]))
        case 3:
            return ObjectId(bytes(rng.randrange(256) for _ in range(12)))
        case 4:
            return rng.random() < 0.5
        case 5:
            millis = rng.randrange(-(2**40), 2**42)
            epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
            return epoch + datetime.timedelta(milliseconds=millis)
        case 6:
            return None
        case 7:
            return Regex('^a.*"b\\d', rng.choice(["", "i", "ms"]))
        case 8:
            return rng.randrange(-(2**31), 2**31)
        case 9:
            return Timestamp(rng.randrange(2**31), rng.randrange(2**31))
        case 10:
            return Int64(rng.randrange(-(2**63), 2**63))
        case 11:
            return {f"{rng.choice(STRINGS[:4])}k{i}": _value(rng, depth + 1) for i in range(rng.randrange(5))}
        case _:
            return [_value(rng, depth + 1, in_array=True) for _ in range(rng.randrange(6))]


def _documents(count: int) -> list[dict[str, Any]]:
    rng = random.Random(20261206)
    docs = []
    for i in range(count):
        doc: dict[str, Any] = {"_id": i, "n": i}
        for j in range(rng.randrange(12)):
            doc[f"f{j}{rng.choice(STRINGS[:4])}"] = _value(rng, 0)
        docs.append(doc)
    return docs


def _raw(doc: dict[str, Any]) -> bytes:
    """The document's BSON: equal bytes mean equal types, values and field order."""
    return bson.encode(doc, codec_options=CODEC)


@pytest.fixture(scope="module")
def collection() -> Iterator[Collection[dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="guild-roundtrip-") as tmp:
        ferret = FerretServer(data_dir=Path(tmp) / "data", log_dir=Path(tmp) / "logs")
        ferret.start()
        try:
            client: MongoClient[dict[str, Any]]
            with MongoClient(ferret.uri, tz_aware=True) as client:
                yield client["app"].get_collection("docs", codec_options=CODEC)
        finally:
            ferret.stop()


def test_every_document_reads_back_as_written(collection: Collection[dict[str, Any]]) -> None:
    docs = _documents(1500)
    collection.insert_many(docs)
    read = {doc["_id"]: doc for doc in collection.find({})}
    assert len(read) == len(docs)
    mismatched = [doc["_id"] for doc in docs if _raw(read[doc["_id"]]) != _raw(doc)]
    assert mismatched == []


def test_projected_filtered_and_updated_documents_read_back(collection: Collection[dict[str, Any]]) -> None:
    docs = {doc["_id"]: doc for doc in _documents(1500)}
    for doc in collection.find({"n": {"$gte": 1000}}, {"n": 0}):
        expected = {k: v for k, v in docs[doc["_id"]].items() if k != "n"}
        assert _raw(doc) == _raw(expected)
    collection.update_many({"n": {"$lt": 100}}, {"$set": {"extra": {"nested": ["é", Int64(7), None]}}})
    for doc in collection.find({"n": {"$lt": 100}}):
        expected = {**docs[doc["_id"]], "extra": {"nested": ["é", Int64(7), None]}}
        assert _raw(doc) == _raw(expected)
