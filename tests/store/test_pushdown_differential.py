"""Differential check of the embedded FerretDB's index pushdown.

Two FerretDB servers with throwaway data folders get the same collections, indexes (the shapes Guild
declares: single field, compound with descending keys, unique, multikey on arrays of strings, dotted) and
seeded documents (numbers of every BSON type, strings, dates, booleans, null, missing fields, ObjectIds,
arrays, embedded documents), then the same few hundred seeded finds, aggregations, counts and distincts,
and the same updates and deletes. The answers must agree.

The reference is the server started with ``-disable-index-pushdown`` (and
``FERRETDB_DISABLE_INDEX_PUSHDOWN=1``): it reads whole collections and filters and sorts in memory, so its
answers are FerretDB's own in-memory filter and sort semantics, whatever SQLite does with indexes. The
other server runs with every pushdown on (the variable is removed from its environment). A binary built
before that flag existed cannot turn pushdown off: both servers then run the same code and the check still
runs (and passes, with a warning), so that it guards the pushdown from the moment the flag appears. Once
the flag is there, the check also requires FerretDB's ``explain`` to report an index for a share of the
finds on the pushdown server, so that it cannot end up comparing two servers without pushdown.

Documents are compared exactly (BSON bytes, so 5, 5.0 and Int64(5) differ and field order counts):
- no sort: the same multiset of documents; with a limit, as many documents as the reference finds (up to
  the limit), each one the reference finds without the limit;
- a sort with ``_id`` or the unique ``slug`` among its keys: the same documents in the same order;
- any other sort: the same sequence of sort keys (as FerretDB compares them: numbers by value, null and
  missing alike, an array by its least or greatest element, ``[]`` first), and the same documents within
  each run of equal keys, except the runs a skip or a limit may cut, where ties may be broken differently.
Counts must be equal; distinct values the same up to the type of equal numbers; writes must report the
same counts and documents and leave the same collections, which are then queried again.

A failure prints the seed and each differing query; ``GUILD_STORE_DIFF_SEED`` reruns another seed and
``GUILD_STORE_DIFF_DOCS`` another collection size. ``pytest tests/store -s`` prints what ran.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import Int64, ObjectId
from pymongo import MongoClient, ReturnDocument
from pymongo.database import Database
from pymongo.errors import OperationFailure, PyMongoError

from guild_testing.servers import FerretServer, ferretdb_supports_flag

pytestmark = pytest.mark.servers

Doc = dict[str, Any]
Filter = dict[str, Any]
SortSpec = list[tuple[str, int]]

DISABLE_FLAG = "-disable-index-pushdown"
DISABLE_ENV = "FERRETDB_DISABLE_INDEX_PUSHDOWN"
SEED = int(os.environ.get("GUILD_STORE_DIFF_SEED", "20261206"))
# Every read is a full scan on the reference (about 0.1 ms a document on a 2-core runner): the default
# size keeps the module well under a minute. Raise it locally for a deeper check.
DOC_COUNT = int(os.environ.get("GUILD_STORE_DIFF_DOCS", "300"))
ITEMS = "items"
EDITS = "edits"

INDEXES: list[tuple[list[tuple[str, int]], bool]] = [
    ([("community_id", 1), ("created_at", -1), ("_id", -1)], False),
    ([("slug", 1)], True),
    ([("tags", 1)], False),
    ([("tags", 1), ("created_at", -1), ("_id", -1)], False),
    ([("terms", 1), ("community_id", 1), ("created_at", -1), ("_id", -1)], False),
    ([("community_id", 1), ("terms", 1)], False),
    ([("n", 1)], False),
    ([("title", 1), ("_id", 1)], False),
    ([("stats.score", -1)], False),
    ([("big", 1)], False),
    ([("created_at", 1)], False),
]

# --- values -------------------------------------------------------------------------------------------

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
COMMUNITIES = [f"c{i}" for i in range(8)]
STRINGS = [
    "", "a", "ab", "abc", "abd", "abc ", "A", "Ab", "b", "z", "zz", "é", "e\u0301", "ß", "ss", "日本",
    "日本語", "😀", "guild", "guild-", "guild/", "guild-a", "guild_b", "guild\u00a0c", "5", "null", "true",
]  # fmt: skip
TAGS = ["python", "py", "pyth", "go", "golang", "rust", "é", "日本", "", "a", "A", "data", "data-science"]
TERMS = ["alpha", "alp", "beta", "gamma", "δ", "epsilon", "x", ""]
LEVELS = ["gold", "silver", "bronze", "", "Gold"]
SAME_VALUES: list[Any] = [5, 5.0, Int64(5), 0, 0.0, Int64(0), -1, -1.0, 2.5]
MISSING = object()


class Values:
    """Seeded pools of BSON values of every kind the documents hold."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        ms = 90 * 24 * 3600 * 1000
        self.dates = sorted({BASE_TIME + timedelta(milliseconds=rng.randrange(ms)) for _ in range(120)})
        self.refs = [ObjectId(rng.randbytes(12)) for _ in range(12)]

    def drawing_with(self, rng: random.Random) -> Values:
        """The same pools, drawn from with ``rng``: each test's draws then depend on the seed only."""
        other = Values.__new__(Values)
        other.rng, other.dates, other.refs = rng, self.dates, self.refs
        return other

    def int_(self) -> int:
        return self.rng.randint(-20, 20)

    def int64(self) -> Int64:
        rng = self.rng
        return Int64(rng.randint(-20, 20) if rng.random() < 0.6 else rng.randint(-(2**53) + 1, 2**53 - 1))

    def double(self) -> float:
        rng = self.rng
        value = rng.choice([rng.randint(-80, 80) / 4, round(rng.uniform(-20, 20), 3), -0.5, 0.1, 1e-3])
        return value + 0.0  # never -0.0

    def number(self) -> Any:
        return self.rng.choice([self.int_, self.int64, self.double, self.same])()

    def same(self) -> Any:
        return self.rng.choice(SAME_VALUES)

    def string(self) -> str:
        rng = self.rng
        return rng.choice(STRINGS) if rng.random() < 0.8 else f"word{rng.randint(0, 40):02d}"

    def date(self) -> datetime:
        return self.rng.choice(self.dates)

    def oid(self) -> ObjectId:
        return self.rng.choice(self.refs)

    def boolean(self) -> bool:
        return self.rng.random() < 0.5

    def mixed(self) -> Any:
        """A value of any kind, numbers most often: for fields whose type varies."""
        kind = self.rng.choices(
            ["number", "string", "bool", "null", "date", "oid", "array", "doc"],
            weights=[50, 15, 5, 6, 6, 4, 5, 2],
        )[0]
        if kind == "number":
            return self.number()
        if kind == "string":
            return self.string()
        if kind == "bool":
            return self.boolean()
        if kind == "null":
            return None
        if kind == "date":
            return self.date()
        if kind == "oid":
            return self.oid()
        if kind == "array":
            return [self.number() for _ in range(self.rng.randint(0, 3))]
        return {"x": self.number()}

    def tags(self) -> list[str]:
        count = self.rng.choice([0, 1, 1, 2, 2, 3, 4])
        return [self.rng.choice(TAGS) for _ in range(count)]

    def terms(self) -> list[str]:
        return self.rng.sample(TERMS, self.rng.choice([0, 1, 2, 3]))


def make_document(values: Values, index: int) -> Doc:
    """One document; fields are absent, null or of an unusual type now and then."""
    rng = values.rng

    def sometimes(make: Callable[[], Any], *, missing: float = 0.05, null: float = 0.03) -> Any:
        roll = rng.random()
        if roll < missing:
            return MISSING
        if roll < missing + null:
            return None
        return make()

    def community() -> Any:
        return values.oid() if rng.random() < 0.02 else rng.choice(COMMUNITIES)

    def tags() -> Any:
        return rng.choice(TAGS) if rng.random() < 0.05 else values.tags()

    def title() -> Any:
        return values.number() if rng.random() < 0.03 else values.string()

    def flag() -> Any:
        return rng.choice([True, False, True, False, 0, 1])

    def stats() -> Any:
        roll = rng.random()
        if roll < 0.03:
            return [{"score": values.number()}, {"score": values.number(), "level": rng.choice(LEVELS)}]
        stats: Doc = {}
        if rng.random() < 0.92:
            stats["score"] = values.mixed() if rng.random() < 0.1 else values.number()
        stats["views"] = rng.randint(0, 1000)
        if rng.random() < 0.8:
            stats["level"] = rng.choice(LEVELS)
        return stats

    def meta() -> Any:
        if rng.random() < 0.1:
            return {"v": rng.randint(0, 3), "k": rng.choice("pqr")}
        return {"k": rng.choice("pqr"), "v": rng.choice([rng.randint(0, 3), float(rng.randint(0, 3))])}

    prefix = rng.choice(["", "a-", "ab-", "é-", "日本-", "Z"])
    fields: dict[str, Any] = {
        "community_id": sometimes(community),
        "created_at": sometimes(values.date, missing=0.03, null=0.01),
        "slug": f"{prefix}{index:05d}",
        "n": sometimes(values.mixed, missing=0.08, null=0.0),
        "title": sometimes(title),
        "flag": sometimes(flag, missing=0.1, null=0.05),
        "tags": sometimes(tags, missing=0.08, null=0.02),
        "terms": sometimes(values.terms, missing=0.1, null=0.0),
        "stats": sometimes(stats, missing=0.05, null=0.02),
        "meta": sometimes(meta, missing=0.2, null=0.0),
        "ref": sometimes(values.oid, missing=0.3, null=0.1),
        "big": sometimes(values.int64, missing=0.1, null=0.0),
        "rank": sometimes(values.double, missing=0.1, null=0.02),
        "when": sometimes(values.date, missing=0.3, null=0.05),
        "counter": sometimes(values.int_, missing=0.3, null=0.0),
    }
    doc: Doc = {"_id": ObjectId(rng.randbytes(12))}
    keys = list(fields)
    if rng.random() < 0.1:
        rng.shuffle(keys)  # field order is part of a document
    for key in keys:
        if fields[key] is not MISSING:
            doc[key] = fields[key]
    return doc


def make_documents(seed: int, count: int) -> tuple[Values, list[Doc]]:
    values = Values(random.Random(seed))
    docs = [make_document(values, i) for i in range(count)]
    assert len({d["_id"] for d in docs}) == count
    return values, docs


# --- paths and sort keys --------------------------------------------------------------------------------


def get_path(doc: Any, path: str) -> Any:
    """The value at a dotted path through embedded documents only (as FerretDB's sort reads it)."""
    value = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def canon(value: Any) -> tuple[Any, ...]:
    """A key equal for values FerretDB's sort treats as equal, ordered by BSON type bracket then value."""
    if value is None or value is MISSING:
        return (1,)
    if isinstance(value, bool):
        return (9, value)
    if isinstance(value, int | float):
        return (3, float(value))
    if isinstance(value, str):
        return (4, value)
    if isinstance(value, dict):
        return (5, tuple((k, canon(v)) for k, v in value.items()))
    if isinstance(value, list):
        return (6, tuple(canon(v) for v in value))
    if isinstance(value, ObjectId):
        return (8, value.binary)
    if isinstance(value, datetime):
        return (10, value)
    raise TypeError(f"no sort key for {value!r}")


def sort_key(doc: Doc, sort: SortSpec) -> tuple[Any, ...]:
    key = []
    for path, direction in sort:
        value = get_path(doc, path)
        if isinstance(value, list):
            if not value:
                key.append((0,))  # an empty array sorts before null
                continue
            elements = [canon(v) for v in value]
            key.append(min(elements) if direction == 1 else max(elements))
        else:
            key.append(canon(value))
    return tuple(key)


def encode(doc: Doc) -> bytes:
    return bson.encode(doc)


def encode_value(value: Any) -> bytes:
    return bson.encode({"v": value})


# --- queries ------------------------------------------------------------------------------------------


@dataclass
class Query:
    """One read: ``find``, ``aggregate`` (``$match``, ``$sort``, ``$skip``, ``$limit``), ``count``,
    ``count_command`` or ``distinct``."""

    kind: str
    shape: str
    filter: Filter
    sort: SortSpec = field(default_factory=list)
    limit: int = 0
    skip: int = 0
    key: str = ""

    def describe(self) -> str:
        parts = [f"{self.kind}[{self.shape}] filter={self.filter!r}"]
        if self.sort:
            parts.append(f"sort={self.sort!r}")
        if self.skip:
            parts.append(f"skip={self.skip}")
        if self.limit:
            parts.append(f"limit={self.limit}")
        if self.key:
            parts.append(f"key={self.key!r}")
        return " ".join(parts)


EQ_FIELDS = [
    "community_id", "created_at", "n", "title", "flag", "ref", "big", "rank", "when", "tags", "terms",
    "stats.score", "stats.level", "meta", "meta.k", "slug", "counter",
]  # fmt: skip
RANGE_FIELDS = ["created_at", "n", "title", "big", "rank", "when", "tags", "stats.score", "slug", "counter"]
SORT_FIELDS = [
    "community_id", "created_at", "n", "title", "stats.score", "big", "tags", "slug", "_id",  # indexed
    "flag", "rank", "when", "meta", "counter", "stats.level",  # not indexed
]  # fmt: skip
DISTINCT_KEYS = ["community_id", "n", "title", "tags", "terms", "stats.score", "stats.level", "flag", "big"]
NUMBER_FIELDS = {"n", "big", "rank", "stats.score", "counter"}


class QueryMaker:
    """Seeded filters drawn half from values the documents hold, half from the value pools."""

    def __init__(self, rng: random.Random, values: Values, docs: Sequence[Doc]) -> None:
        self.rng = rng
        self.values = values.drawing_with(rng)
        self.docs = docs

    def typed_value(self, path: str) -> Any:
        """A value of the kind ``path`` usually holds, or now and then of another kind."""
        v = self.values
        rng = self.rng
        if rng.random() < 0.15:
            return v.mixed()
        if path in NUMBER_FIELDS:
            return v.number()
        if path in {"created_at", "when"}:
            return v.date()
        if path in {"ref", "_id"}:
            return v.oid()
        if path == "flag":
            return rng.choice([True, False, 0, 1])
        if path == "community_id":
            return rng.choice([*COMMUNITIES, "c", "c10"])
        if path == "tags":
            return rng.choice(TAGS)
        if path == "terms":
            return rng.choice(TERMS)
        if path == "meta":
            return {"k": rng.choice("pqr"), "v": rng.randint(0, 3)}
        if path == "stats.level":
            return rng.choice(LEVELS)
        if path == "slug":
            return rng.choice(["", "a-", "ab-00", "é-", "Z0", "日本-01", "a-01234"])
        return v.string()

    def value(self, path: str) -> Any:
        """Mostly a value some document holds at ``path`` (an element, for arrays)."""
        rng = self.rng
        if rng.random() < 0.6:
            for _ in range(20):
                found = get_path(rng.choice(self.docs), path)
                if found is MISSING:
                    continue
                if isinstance(found, list) and found and rng.random() < 0.8:
                    return rng.choice(found)
                return found
        return self.typed_value(path)

    def field(self, fields: Sequence[str] = EQ_FIELDS) -> str:
        return self.rng.choice(fields)

    # Each shape returns a filter.

    def eq(self) -> Filter:
        path = self.field()
        return {path: self.value(path)}

    def eq_explicit(self) -> Filter:
        path = self.field()
        return {path: {"$eq": self.value(path)}}

    def eq_same_number(self) -> Filter:
        return {self.field(sorted(NUMBER_FIELDS)): self.rng.choice(SAME_VALUES)}

    def null(self) -> Filter:
        path = self.field([*EQ_FIELDS, "stats", "stats.views", "meta.v", "nothing"])
        return {path: None} if self.rng.random() < 0.7 else {path: {"$eq": None}}

    def in_(self) -> Filter:
        path = self.field()
        items = [self.value(path) for _ in range(self.rng.randint(1, 5))]
        if self.rng.random() < 0.3:
            items.append(self.values.mixed())
        if self.rng.random() < 0.2:
            items.append(None)
        return {path: {"$in": items}}

    def nin_ne(self) -> Filter:
        path = self.field()
        if self.rng.random() < 0.5:
            return {path: {"$ne": self.value(path)}}
        return {path: {"$nin": [self.value(path) for _ in range(self.rng.randint(1, 3))]}}

    def range_(self) -> Filter:
        path = self.field(RANGE_FIELDS)
        ops = self.rng.sample(["$gt", "$gte", "$lt", "$lte"], self.rng.choice([1, 1, 2]))
        return {path: {op: self.value(path) for op in ops}}

    def range_cross_type(self) -> Filter:
        """A bound of one type on a field that holds several (``{n: {$gt: 5}}`` with strings about)."""
        path = self.field(["n", "title", "stats.score", "tags", "community_id", "flag"])
        op = self.rng.choice(["$gt", "$gte", "$lt", "$lte"])
        bound = self.rng.choice(
            [5, 5.0, Int64(5), -0.5, "", "a", "guild", True, False, None, self.values.date()]
        )
        return {path: {op: bound}}

    def between(self) -> Filter:
        path = self.field(["created_at", "n", "big", "rank", "stats.score", "counter", "title", "slug"])
        low, high = self.value(path), self.value(path)
        try:
            if canon(low) > canon(high):
                low, high = high, low
        except TypeError:
            pass
        return {path: {self.rng.choice(["$gt", "$gte"]): low, self.rng.choice(["$lt", "$lte"]): high}}

    def exists(self) -> Filter:
        path = self.field([*EQ_FIELDS, "stats", "nothing", "stats.views"])
        return {path: {"$exists": self.rng.random() < 0.5}}

    def tags(self) -> Filter:
        path = self.rng.choice(["tags", "terms"])
        pool = TAGS if path == "tags" else TERMS
        roll = self.rng.random()
        if roll < 0.4:
            return {path: self.rng.choice(pool)}
        if roll < 0.6:
            return {path: {"$in": self.rng.sample(pool, self.rng.randint(1, 3))}}
        if roll < 0.7:
            return {path: []}
        if roll < 0.8:  # a whole array
            found = get_path(self.rng.choice(self.docs), path)
            return {path: found if isinstance(found, list) else [self.rng.choice(pool)]}
        if roll < 0.9:
            return {path: {"$all": self.rng.sample(pool, self.rng.randint(1, 2))}}
        return {path: {"$size": self.rng.randint(0, 3)}}

    def dotted(self) -> Filter:
        path = self.rng.choice(["stats.score", "stats.level", "stats.views", "meta.k", "meta.v"])
        roll = self.rng.random()
        if roll < 0.5:
            return {path: self.value(path)}
        if roll < 0.8:
            op = self.rng.choice(["$gt", "$gte", "$lt", "$lte"])
            return {path: {op: self.value(path)}}
        return {path: {"$in": [self.value(path) for _ in range(3)]}}

    def id_(self) -> Filter:
        ids = [self.rng.choice(self.docs)["_id"] for _ in range(4)] + [self.values.oid()]
        roll = self.rng.random()
        if roll < 0.3:
            return {"_id": ids[0]}
        if roll < 0.6:
            return {"_id": {"$in": ids}}
        if roll < 0.8:
            return {"_id": ids[0], "community_id": self.value("community_id")}
        return {"_id": {self.rng.choice(["$gt", "$lt"]): ids[0]}}

    def simple(self) -> Filter:
        shapes = [self.eq, self.in_, self.range_, self.null, self.exists, self.tags, self.dotted]
        return self.rng.choice(shapes)()

    def and_explicit(self) -> Filter:
        return {"$and": [self.simple() for _ in range(self.rng.randint(2, 3))]}

    def and_implicit(self) -> Filter:
        merged: Filter = {}
        for _ in range(self.rng.randint(2, 3)):
            for key, value in self.simple().items():
                merged.setdefault(key, value)
        return merged

    def and_same_field(self) -> Filter:
        """Two conditions on one field in ``$and``, the shape a merge of filters produces."""
        path = self.field(RANGE_FIELDS)
        return {"$and": [{path: {"$gte": self.value(path)}}, {path: {"$ne": self.value(path)}}]}

    def or_(self) -> Filter:
        branches = [self.simple() for _ in range(self.rng.randint(2, 3))]
        if self.rng.random() < 0.4:
            return {"community_id": self.value("community_id"), "$or": branches}
        return {"$or": branches}

    def keyset_anchor(self) -> Doc:
        for _ in range(50):
            doc = self.rng.choice(self.docs)
            if isinstance(doc.get("community_id"), str) and isinstance(doc.get("created_at"), datetime):
                return doc
        return {
            "community_id": self.rng.choice(COMMUNITIES),
            "created_at": self.values.date(),
            "_id": self.values.oid(),
        }

    def keyset(self) -> tuple[Filter, SortSpec]:
        """The filter and sort of Guild's page tokens, newest first or oldest first."""
        anchor = self.keyset_anchor()
        newest_first = self.rng.random() < 0.7
        op = "$lt" if newest_first else "$gt"
        direction = -1 if newest_first else 1
        keyset: Filter = {
            "$or": [
                {"created_at": {op: anchor["created_at"]}},
                {"created_at": anchor["created_at"], "_id": {op: anchor["_id"]}},
            ]
        }
        scope: Filter = {"community_id": anchor["community_id"]}
        roll = self.rng.random()
        if roll < 0.2 and anchor.get("terms"):
            scope = {"terms": self.rng.choice(anchor["terms"]), **scope}
        elif roll < 0.35 and isinstance(anchor.get("tags"), list) and anchor["tags"]:
            scope = {"tags": self.rng.choice(anchor["tags"])}
        elif roll < 0.45:
            keyset = {"$and": [{"flag": {"$ne": False}}, keyset]}
        return {**scope, **keyset}, [("created_at", direction), ("_id", direction)]

    def sort(self) -> SortSpec:
        fields = self.rng.sample(SORT_FIELDS, self.rng.choice([1, 1, 2, 2, 3]))
        spec = [(path, self.rng.choice([1, -1])) for path in fields]
        if "_id" not in fields and self.rng.random() < 0.35:
            spec.append(("_id", self.rng.choice([1, -1])))
        return spec

    def limit(self) -> int:
        return self.rng.choice([0, 0, 1, 3, 10, 25, 100])

    def skip(self) -> int:
        return self.rng.choice([0, 0, 0, 1, 5, 30])


FIND_SHAPES: dict[str, int] = {
    "eq": 30,
    "eq_explicit": 6,
    "eq_same_number": 10,
    "null": 14,
    "in_": 18,
    "nin_ne": 10,
    "range_": 22,
    "range_cross_type": 18,
    "between": 10,
    "exists": 10,
    "tags": 20,
    "dotted": 14,
    "id_": 6,
    "and_explicit": 10,
    "and_implicit": 14,
    "and_same_field": 6,
    "or_": 16,
    "keyset": 26,
}


def make_reads(seed: int, values: Values, docs: Sequence[Doc]) -> list[Query]:
    rng = random.Random(seed)
    maker = QueryMaker(rng, values, docs)
    queries: list[Query] = []

    def filter_for(shape: str) -> tuple[Filter, SortSpec]:
        if shape == "keyset":
            return maker.keyset()
        made: Filter = getattr(maker, shape)()
        return made, []

    for shape, count in FIND_SHAPES.items():
        for _ in range(count):
            flt, sort = filter_for(shape)
            if shape == "keyset":
                queries.append(Query("find", shape, flt, sort, limit=rng.choice([1, 5, 20, 50])))
                continue
            roll = rng.random()
            if roll < 0.3:
                queries.append(Query("find", shape, flt))
            elif roll < 0.4:
                queries.append(Query("find", shape, flt, limit=rng.choice([1, 3, 10, 40])))
            else:
                queries.append(Query("find", shape, flt, maker.sort(), maker.limit(), maker.skip()))

    shapes = list(FIND_SHAPES)
    for _ in range(24):
        shape = rng.choice(shapes)
        flt, sort = filter_for(shape)
        limit, skip = rng.choice([1, 5, 20, 100]), rng.choice([0, 0, 0, 2])
        queries.append(Query("aggregate", shape, flt, sort or maker.sort(), limit, skip))
    for _ in range(24):
        shape = rng.choice(shapes)
        queries.append(Query("count", shape, filter_for(shape)[0], skip=maker.skip(), limit=maker.limit()))
    for _ in range(10):
        shape = rng.choice(shapes)
        queries.append(Query("count_command", shape, filter_for(shape)[0]))
    for _ in range(20):
        shape = rng.choice(shapes)
        flt = filter_for(shape)[0] if rng.random() < 0.7 else {}
        queries.append(Query("distinct", shape, flt, key=rng.choice(DISTINCT_KEYS)))
    return queries


# --- running and comparing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Failed:
    """A command error, compared by code."""

    code: int | None
    message: str


Outcome = list[Doc] | int | Failed


def run_read(collection: str, query: Query, db: Database[Doc], reference: bool) -> Outcome:
    coll = db[collection]
    try:
        if query.kind == "find":
            # Without a sort a limit picks any documents: the reference returns all of them.
            limit = 0 if reference and not query.sort else query.limit
            return list(coll.find(query.filter, sort=query.sort or None, skip=query.skip, limit=limit))
        if query.kind == "aggregate":
            pipeline: list[Doc] = [{"$match": query.filter}, {"$sort": dict(query.sort)}]
            if query.skip:
                pipeline.append({"$skip": query.skip})
            pipeline.append({"$limit": query.limit})
            return list(coll.aggregate(pipeline))
        if query.kind == "count":
            options: Doc = {}
            if query.skip:
                options["skip"] = query.skip
            if query.limit:
                options["limit"] = query.limit
            return coll.count_documents(query.filter, **options)
        if query.kind == "count_command":
            reply = coll.database.command("count", coll.name, query=query.filter)
            return int(reply["n"])
        if query.kind == "distinct":
            return [{"v": v} for v in coll.distinct(query.key, query.filter)]
    except OperationFailure as exc:
        return Failed(exc.code, str(exc.details.get("errmsg") if exc.details else exc))
    raise AssertionError(f"unknown query kind {query.kind}")


def describe_docs(docs: Sequence[Doc], limit: int = 4) -> str:
    shown = ", ".join(repr(d) for d in docs[:limit])
    return f"{len(docs)} docs [{shown}{', ...' if len(docs) > limit else ''}]"


def lengths_differ(got: Sequence[Doc], want: Sequence[Doc]) -> str:
    return f"{len(got)} documents, want {len(want)}: got {describe_docs(got)}, want {describe_docs(want)}"


def decoded(encoded: Counter[bytes]) -> list[Doc]:
    return [bson.decode(raw) for raw in encoded.elements()]


def compare_docs(query: Query, got: list[Doc], want: list[Doc]) -> str | None:
    """Why ``got`` (pushdown) differs from ``want`` (reference) for ``query``, or None."""
    if not query.sort:
        got_set, want_set = Counter(map(encode, got)), Counter(map(encode, want))
        if query.limit:
            if len(got) != min(query.limit, len(want)):
                return f"{len(got)} documents, want {min(query.limit, len(want))} of {len(want)}"
            extra = got_set - want_set
            if extra:
                return f"documents the reference does not match: {describe_docs(decoded(extra))}"
            return None
        if got_set == want_set:
            return None
        return (
            f"only pushdown: {describe_docs(decoded(got_set - want_set))}; "
            f"only reference: {describe_docs(decoded(want_set - got_set))}"
        )

    sort_paths = [path for path, _ in query.sort]
    if "_id" in sort_paths or "slug" in sort_paths:
        got_enc, want_enc = list(map(encode, got)), list(map(encode, want))
        if got_enc == want_enc:
            return None
        if len(got) != len(want):
            return lengths_differ(got, want)
        at = next(i for i, (a, b) in enumerate(zip(got_enc, want_enc, strict=True)) if a != b)
        return f"first difference at #{at}: got {got[at]!r}, want {want[at]!r}"

    got_keys = [sort_key(d, query.sort) for d in got]
    want_keys = [sort_key(d, query.sort) for d in want]
    if got_keys != want_keys:
        if len(got_keys) != len(want_keys):
            return lengths_differ(got, want)
        at = next(i for i, (a, b) in enumerate(zip(got_keys, want_keys, strict=True)) if a != b)
        return f"sort keys differ first at #{at}: got {got[at]!r}, want {want[at]!r}"
    # Same keys in the same order: within each run of equal keys, the same documents, except in the runs
    # a skip (the first) or a limit (the last) may cut.
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(got_keys) + 1):
        if i == len(got_keys) or got_keys[i] != got_keys[start]:
            runs.append((start, i))
            start = i
    for number, (begin, end) in enumerate(runs):
        if (number == 0 and query.skip) or (number == len(runs) - 1 and query.limit):
            continue
        if Counter(map(encode, got[begin:end])) != Counter(map(encode, want[begin:end])):
            return f"documents with equal sort keys differ at #{begin}..#{end - 1}: {got_keys[begin]!r}"
    return None


def compare(query: Query, got: Outcome, want: Outcome) -> str | None:
    if isinstance(want, Failed) or isinstance(got, Failed):
        if isinstance(want, Failed) and isinstance(got, Failed) and got.code == want.code:
            return None
        return f"got {got!r}, want {want!r}"
    if isinstance(want, int) or isinstance(got, int):
        return None if got == want else f"got {got!r}, want {want!r}"
    if query.kind == "distinct":
        # Equal numbers of different types are one value; which of them is kept depends on the scan order.
        got_values = Counter(canon(d["v"]) for d in got)
        want_values = Counter(canon(d["v"]) for d in want)
        if got_values == want_values:
            return None
        return f"got {sorted(map(repr, got))}, want {sorted(map(repr, want))}"
    return compare_docs(query, got, want)


# --- servers ------------------------------------------------------------------------------------------


@dataclass
class Pair:
    """The server under test (pushdown on) and the reference (pushdown off, when the binary can)."""

    pushdown: Database[Doc]
    reference: Database[Doc]
    flag_supported: bool
    pool: ThreadPoolExecutor
    values: Values
    docs: list[Doc]

    def both(self, action: Callable[[Database[Doc], bool], Any]) -> tuple[Any, Any]:
        """``action(database, is_reference)`` on the pushdown server and the reference at the same time."""
        got = self.pool.submit(action, self.pushdown, False)
        want = self.pool.submit(action, self.reference, True)
        return got.result(), want.result()


def start_servers(work: Path) -> tuple[FerretServer, FerretServer, bool]:
    supported = ferretdb_supports_flag(DISABLE_FLAG)
    if not supported:
        warnings.warn(
            f"this FerretDB has no {DISABLE_FLAG}: both servers run with pushdown, so the pushdown "
            "differential check compares FerretDB with itself",
            stacklevel=2,
        )
    plain_env = {k: v for k, v in os.environ.items() if k != DISABLE_ENV}
    pushdown = FerretServer(data_dir=work / "pushdown", log_dir=work / "logs-pushdown", env=plain_env)
    reference = FerretServer(
        data_dir=work / "reference",
        log_dir=work / "logs-reference",
        extra_args=[DISABLE_FLAG] if supported else [],
        env={**plain_env, DISABLE_ENV: "1"},
    )
    return pushdown, reference, supported


def fill(db: Database[Doc], docs: Sequence[Doc]) -> None:
    for name in (ITEMS, EDITS):
        coll = db[name]
        for keys, unique in INDEXES:
            coll.create_index(keys, unique=unique)
        for begin in range(0, len(docs), 500):
            coll.insert_many(docs[begin : begin + 500], ordered=True)


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    values, docs = make_documents(SEED, DOC_COUNT)
    with tempfile.TemporaryDirectory(prefix="guild-store-diff-") as tmp:
        pushdown, reference, supported = start_servers(Path(tmp))
        clients: list[MongoClient[Doc]] = []
        try:
            pushdown.start()
            reference.start()
            for server in (pushdown, reference):
                clients.append(MongoClient(server.uri, tz_aware=True, serverSelectionTimeoutMS=10_000))
            dbs = [client["pushdown_diff"] for client in clients]
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(fill, dbs, [docs, docs]))
                yield Pair(dbs[0], dbs[1], supported, pool, values, docs)
        finally:
            for client in clients:
                client.close()
            for server in (pushdown, reference):
                server.stop()


def check_reads(pair: Pair, collection: str, queries: Sequence[Query], seed: int) -> Counter[str]:
    """Run ``queries`` on both servers; fail listing every difference. Returns the tally of outcomes."""
    failures: list[str] = []
    tally: Counter[str] = Counter()
    for number, query in enumerate(queries):
        got, want = pair.both(partial(run_read, collection, query))
        tally[f"{query.kind}:{query.shape}"] += 1
        if isinstance(want, Failed):
            tally["error"] += 1
        elif isinstance(want, list) and not want:
            tally["empty"] += 1
        problem = compare(query, got, want)
        if problem:
            failures.append(f"#{number} {query.describe()}\n    {problem}")
        if query.kind == "find":
            tally.update(plan_of(pair.pushdown, collection, query))
    if failures:
        shown = "\n".join(failures[:15])
        more = f"\n... and {len(failures) - 15} more" if len(failures) > 15 else ""
        pytest.fail(
            f"{len(failures)} of {len(queries)} reads differ from the no-pushdown reference on {collection} "
            f"(GUILD_STORE_DIFF_SEED={seed}, pushdown flag supported: {pair.flag_supported}):\n{shown}{more}",
            pytrace=False,
        )
    return tally


def plan_of(db: Database[Doc], collection: str, query: Query) -> list[str]:
    """What FerretDB's explain says of ``query``: it uses an index, it sorts or limits in SQLite."""
    command: Doc = {"find": collection, "filter": query.filter}
    if query.sort:
        command["sort"] = dict(query.sort)
    if query.skip:
        command["skip"] = Int64(query.skip)  # explain, unlike find, takes only a long
    if query.limit:
        command["limit"] = query.limit
    try:
        reply = db.command("explain", command)
    except OperationFailure:
        return ["plan:explain failed"]
    found = ["plan:index"] if "INDEX" in str(reply.get("queryPlanner", "")) else []
    found += [f"plan:{key}" for key in ("filterPushdown", "sortPushdown", "limitPushdown") if reply.get(key)]
    return found


def report(title: str, tally: Counter[str], started: float) -> None:
    print(f"\n{title} in {time.monotonic() - started:.1f}s (seed {SEED}):")
    for name, count in sorted(tally.items()):
        print(f"  {name}: {count}")


def test_reads_match_the_reference(pair: Pair) -> None:
    started = time.monotonic()
    queries = make_reads(SEED + 1, pair.values, pair.docs)
    assert len(queries) >= 300
    tally = check_reads(pair, ITEMS, queries, SEED)
    report("reads", tally, started)
    # The generator must keep producing queries that match something and that FerretDB accepts.
    assert tally["empty"] < 0.4 * len(queries), tally
    assert tally["error"] < 0.05 * len(queries), tally
    if pair.flag_supported:
        finds = sum(q.kind == "find" for q in queries)
        assert tally["plan:index"] >= 0.1 * finds, (
            f"the pushdown server used an index for few queries: {tally}"
        )


# --- writes -------------------------------------------------------------------------------------------


@dataclass
class Write:
    kind: str
    filter: Filter
    update: Doc = field(default_factory=dict)
    sort: SortSpec = field(default_factory=list)
    document: Doc = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.kind} filter={self.filter!r} update={self.update!r} sort={self.sort!r}"


def make_update(maker: QueryMaker) -> Doc:
    """An update that cannot fail on any document (so the order documents are visited in cannot matter)."""
    rng, v = maker.rng, maker.values
    choices: list[Callable[[], Doc]] = [
        lambda: {"$set": {"n": v.mixed()}},
        lambda: {"$set": {"created_at": v.date()}},
        lambda: {"$set": {"community_id": rng.choice(COMMUNITIES)}},
        lambda: {"$set": {"title": v.string(), "rank": v.double()}},
        lambda: {"$set": {"tags": v.tags()}},
        lambda: {"$set": {"stats": {"score": v.number(), "views": rng.randint(0, 9)}}},
        lambda: {"$set": {"big": v.int64()}},
        lambda: {"$unset": {rng.choice(["title", "n", "created_at", "tags"]): ""}},
        lambda: {"$addToSet": {"terms": rng.choice(TERMS)}},
        lambda: {"$pull": {"terms": rng.choice(TERMS)}},
        lambda: {"$push": {"terms": rng.choice(TERMS)}},
        lambda: {"$inc": {"counter": rng.randint(-3, 3)}},
        lambda: {"$set": {"flag": rng.choice([True, False, None])}, "$inc": {"counter": 1}},
    ]
    return rng.choice(choices)()


def make_writes(seed: int, values: Values, docs: Sequence[Doc]) -> list[Write]:
    rng = random.Random(seed)
    maker = QueryMaker(rng, values, docs)
    shapes = [s for s in FIND_SHAPES if s != "keyset"]
    writes: list[Write] = []
    for number in range(50):
        roll = rng.random()
        shape = rng.choice(shapes)
        flt: Filter = maker.keyset()[0] if rng.random() < 0.15 else getattr(maker, shape)()
        if roll < 0.45:
            writes.append(Write("update_many", flt, make_update(maker)))
        elif roll < 0.8:
            sort = [*maker.sort()]
            if "_id" not in [p for p, _ in sort]:
                sort.append(("_id", rng.choice([1, -1])))
            writes.append(Write("find_one_and_update", flt, make_update(maker), sort))
        elif roll < 0.9:  # a few documents at most, so that there is still something to read afterwards
            ids = [rng.choice(docs)["_id"] for _ in range(10)]
            writes.append(Write("delete_many", {"$and": [flt, {"_id": {"$in": ids}}]}))
        else:
            writes.append(Write("insert_one", {}, document=make_document(maker.values, DOC_COUNT + number)))
    return writes


def run_write(write: Write, db: Database[Doc], _reference: bool) -> Any:
    coll = db[EDITS]
    try:
        if write.kind == "update_many":
            result = coll.update_many(write.filter, write.update)
            return ("updated", result.matched_count, result.modified_count)
        if write.kind == "find_one_and_update":
            return coll.find_one_and_update(
                write.filter, write.update, sort=write.sort, return_document=ReturnDocument.AFTER
            )
        if write.kind == "delete_many":
            return ("deleted", coll.delete_many(write.filter).deleted_count)
        if write.kind == "insert_one":
            return ("inserted", coll.insert_one(dict(write.document)).inserted_id)
    except PyMongoError as exc:
        return Failed(getattr(exc, "code", None), str(exc))
    raise AssertionError(f"unknown write kind {write.kind}")


def whole(db: Database[Doc], _reference: bool) -> list[Doc]:
    return list(db[EDITS].find({}, sort=[("_id", 1)]))


def test_writes_match_the_reference(pair: Pair) -> None:
    started = time.monotonic()
    writes = make_writes(SEED + 2, pair.values, pair.docs)
    tally: Counter[str] = Counter()
    for number, write in enumerate(writes):
        got, want = pair.both(partial(run_write, write))
        tally[write.kind] += 1
        context = f"(GUILD_STORE_DIFF_SEED={SEED}, flag supported: {pair.flag_supported})"
        if isinstance(want, Failed):
            tally["error"] += 1
        if isinstance(got, Failed) or isinstance(want, Failed):
            same = isinstance(got, Failed) and isinstance(want, Failed) and got.code == want.code
        else:
            same = encode_value(got) == encode_value(want)
        assert same, f"write #{number} {write.describe()} {context}:\n  got {got!r}\n  want {want!r}"
        if number % 10 == 9 or number == len(writes) - 1:
            got_all, want_all = pair.both(whole)
            problem = compare_docs(Query("find", "whole", {}, [("_id", 1)]), got_all, want_all)
            assert problem is None, f"collections differ after write #{number} {context}: {problem}"
    # The indexes must follow the writes: read the edited collection again.
    edited = list(pair.reference[EDITS].find({}, sort=[("_id", 1)]))
    queries = make_reads(SEED + 3, pair.values, edited)[::8]
    tally.update(check_reads(pair, EDITS, queries, SEED))
    report("writes", tally, started)
    assert tally["error"] < 0.1 * len(writes), tally


# --- the comparison itself ----------------------------------------------------------------------------


def test_comparison_flags_differences_but_not_broken_ties() -> None:
    """No servers: what ``compare_docs`` must catch, and the tie-breaks it must let through."""
    ids = [ObjectId(bytes([i]) * 12) for i in range(6)]
    docs: list[Doc] = [
        {"_id": ids[0], "n": 5, "tags": ["b", "x"]},
        {"_id": ids[1], "n": 5.0, "tags": ["a"]},
        {"_id": ids[2], "n": Int64(5)},
        {"_id": ids[3], "n": None, "tags": []},
        {"_id": ids[4], "tags": "c"},
        {"_id": ids[5], "n": "5", "tags": ["a", "z"]},
    ]
    by_n = Query("find", "t", {}, [("n", 1)])
    want = [docs[3], docs[4], docs[0], docs[1], docs[2], docs[5]]  # null and missing tie, 5s tie
    tie_broken = [docs[4], docs[3], docs[2], docs[0], docs[1], docs[5]]
    assert compare_docs(by_n, tie_broken, want) is None
    assert compare_docs(by_n, [want[0], want[2], want[1], *want[3:]], want) is not None
    assert compare_docs(by_n, want[:-1], want) is not None
    assert compare_docs(by_n, [*want[:2], {**docs[0], "n": 5.0}, *want[3:]], want) is not None
    # A limit may cut a run of ties anywhere; a skip too.
    cut = Query("find", "t", {}, [("n", 1)], limit=3)
    assert compare_docs(cut, [docs[4], docs[3], docs[1]], [docs[3], docs[4], docs[0]]) is None
    assert compare_docs(cut, [docs[4], docs[3], docs[5]], [docs[3], docs[4], docs[0]]) is not None
    skipped = Query("find", "t", {}, [("n", 1)], skip=3)
    assert compare_docs(skipped, [docs[0], docs[2], docs[5]], [docs[2], docs[1], docs[5]]) is None
    # An array sorts by its least element ascending, its greatest descending; [] before null.
    by_tags = Query("find", "t", {}, [("tags", 1)])
    ascending = [docs[3], docs[2], docs[1], docs[5], docs[0], docs[4]]
    assert compare_docs(by_tags, [*ascending[:2], docs[5], docs[1], *ascending[4:]], ascending) is None
    assert compare_docs(by_tags, [docs[2], docs[3], *ascending[2:]], ascending) is not None
    by_tags_desc = Query("find", "t", {}, [("tags", -1)])
    descending = [docs[5], docs[0], docs[4], docs[1], docs[2], docs[3]]
    assert compare_docs(by_tags_desc, descending, descending) is None
    assert compare_docs(by_tags_desc, [docs[0], docs[5], *descending[2:]], descending) is not None
    # Without a sort: any order, the same documents; with a limit, any of the matching documents.
    unsorted = Query("find", "t", {})
    assert compare_docs(unsorted, docs[::-1], docs) is None
    assert compare_docs(unsorted, [*docs[:-1], {**docs[5], "n": 5}], docs) is not None
    limited = Query("find", "t", {}, limit=2)
    assert compare_docs(limited, [docs[4], docs[1]], docs) is None
    assert compare_docs(limited, [docs[4]], docs) is not None
    assert compare_docs(limited, [docs[4], {**docs[1], "x": 1}], docs) is not None
    # A total order (``_id`` among the keys) must match exactly.
    total = Query("find", "t", {}, [("n", 1), ("_id", -1)])
    assert compare_docs(total, want, want) is None
    assert compare_docs(total, tie_broken, want) is not None
