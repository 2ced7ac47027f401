"""A database from before identity_keys upgrades on start without losing a contact."""

from __future__ import annotations

import uuid

import pytest
from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from documents.contact import Contact
from documents.upgrade import LEGACY_CONTACT_INDEXES, upgrade

_STRING = {"$type": "string"}
OLD_INDEXES = [
    IndexModel(
        [("workspace_id", ASCENDING), (field, ASCENDING)],
        unique=True,
        partialFilterExpression={field: _STRING},
        name=f"identity_{field}",
    )
    for field in ("user_id", "email", "phone", "anonymous_ids")
] + [
    IndexModel([("workspace_id", ASCENDING), (field, ASCENDING)])
    for field in ("tags", "segments", "location_id")
]


@pytest.fixture
async def old_database(services):
    database = services.mongo[f"reach_upgrade_{uuid.uuid4().hex[:8]}"]
    yield database
    await services.mongo.drop_database(database.name)


async def test_old_identity_indexes_are_replaced_and_every_contact_kept(old_database) -> None:
    contacts = old_database["contacts"]
    await contacts.create_indexes(OLD_INDEXES)
    ws, other = ObjectId(), ObjectId()
    rows = [
        {
            "_id": ObjectId(),
            "workspace_id": ws,
            "user_id": f"u{i}",
            "email": f"p{i}@x.io",
            "anonymous_ids": [f"a{i}", f"b{i}"],
            "tags": ["vip"],
            "properties": {"n": i},
        }
        for i in range(250)
    ]
    rows.append({"_id": ObjectId(), "workspace_id": ws, "phone": "+919820000001"})
    rows.append({"_id": ObjectId(), "workspace_id": ws, "anonymous_ids": []})  # erased
    rows.append({"_id": ObjectId(), "workspace_id": other, "email": "p0@x.io"})
    await contacts.insert_many(rows)
    before = {d["_id"]: d async for d in contacts.find({})}

    await upgrade(old_database)
    # What init_beanie does next: build the declared indexes over the new field.
    await contacts.create_indexes(Contact.Settings.indexes)

    names = {i["name"] async for i in await contacts.list_indexes()}
    assert not names & set(LEGACY_CONTACT_INDEXES)
    assert "identity_keys" in names
    after = {d["_id"]: d async for d in contacts.find({})}
    assert after.keys() == before.keys()
    for key, doc in before.items():
        kept = {k: v for k, v in after[key].items() if k not in ("identity_keys", "search_keys")}
        assert kept == doc
    found = await contacts.find(
        {"workspace_id": ws, "identity_keys": {"$in": ["email:p7@x.io", "anon:b9"]}}
    ).to_list(None)
    assert sorted(d["user_id"] for d in found) == ["u7", "u9"]
    named = await contacts.find(
        {"workspace_id": ws, "search_keys": {"$gte": "p12", "$lt": "p12\U0010ffff"}}
    ).to_list(None)
    expected = ["p12@x.io"] + [f"p12{d}@x.io" for d in range(10)]
    assert sorted(d["email"] for d in named) == sorted(expected)
    phone = await contacts.find_one({"workspace_id": ws, "identity_keys": "phone:+919820000001"})
    assert phone is not None and after[phone["_id"]]["identity_keys"][0].startswith("contact:")
    with pytest.raises(DuplicateKeyError):  # still one contact per identifier per workspace
        await contacts.insert_one(
            {"workspace_id": ws, "email": "p3@x.io", "identity_keys": ["email:p3@x.io"]}
        )
    # A second start finds nothing to do and changes nothing.
    await upgrade(old_database)
    assert {d["_id"]: d async for d in contacts.find({})} == after


async def test_replaced_indexes_of_other_collections_are_dropped(old_database) -> None:
    runs = old_database["enrollments"]
    await runs.create_index([("workspace_id", 1), ("contact_id", 1), ("status", 1)])
    await runs.insert_one({"workspace_id": ObjectId(), "contact_id": ObjectId(), "status": "x"})
    await upgrade(old_database)
    names = {i["name"] async for i in await runs.list_indexes()}
    assert names == {"_id_"}
    assert await runs.count_documents({}) == 1


async def test_events_and_aggregates_get_name_keys(old_database) -> None:
    from documents.event import Event
    from documents.upgrade import LEGACY_EVENT_INDEXES

    events, contacts, listeners = (old_database[n] for n in ("events", "contacts", "listeners"))
    await events.create_index([("workspace_id", 1), ("event", 1), ("timestamp", -1)])
    ws = ObjectId()
    await events.insert_many(
        [
            {"workspace_id": ws, "message_id": f"m{i}", "event": n}
            for i, n in enumerate(("Order Completed", "order_completed"))
        ]
        + [{"workspace_id": ws, "message_id": "p", "type": "page"}]
    )
    stats = {
        "Order Completed": {"count": 2, "first_at": 1, "last_at": 2, "days": {"20260101": 2}},
        "order_completed": {"count": 1, "first_at": 1, "last_at": 3, "days": {"20260101": 1}},
    }
    await contacts.insert_one({"workspace_id": ws, "event_stats": stats})
    await listeners.insert_one(
        {"workspace_id": ws, "owner": "campaign:1", "purpose": "goal", "event": "Order Completed"}
    )

    await upgrade(old_database)
    await events.create_indexes(Event.Settings.indexes)

    assert {e.get("name_key") async for e in events.find({})} == {"order_completed", None}
    names = {i["name"] async for i in await events.list_indexes()}
    assert not names & set(LEGACY_EVENT_INDEXES)
    [contact] = await contacts.find({}).to_list(None)
    assert contact["event_stats"] == {
        "order_completed": {
            "count": 3,
            "first_at": 1,
            "last_at": 3,
            "days": {"20260101": 3},
            "name": "Order Completed",
        }
    }
    assert (await listeners.find_one({}))["event"] == "order_completed"
