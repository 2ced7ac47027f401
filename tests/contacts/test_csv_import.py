"""CSV import (HTTP and GraphQL, run by the worker) and CSV export of contacts."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import httpx
import pytest
import websockets
from beanie import PydanticObjectId

from documents.contact import Contact
from documents.import_job import ImportFile, ImportJob
from engine.csv_mapping import MAX_FILE_BYTES
from reach.http.limits import ROUTE_LIMITS
from resolvers.contacts import csv_export, csv_import
from resolvers.events import ingest
from tests.helpers import eventually, new_tenant, raw
from tests.tracking_helpers import contacts_of, events_of

JOB_FIELDS = """id status filename totalRows processedRows accepted rejected
  errors { row column reason } errorsTruncated warnings { row column reason } mapping
  createdBy failureReason startedAt finishedAt"""
IMPORT = (
    "mutation($csv: String!, $filename: String, $mapping: JSON) {"
    " importContacts(csv: $csv, filename: $filename, mapping: $mapping) {"
    " importJob { %s } userErrors { field message code } } }" % JOB_FIELDS
)
JOB = "query($id: ID!) { importJob(id: $id) { %s } }" % JOB_FIELDS
CONTACTS = "{ contacts(first: 100) { totalCount edges { node { id userId email phone anonymousIds properties tags } } } }"
FORMULA = "=cmd|' /C calc'!A0"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def finished(api, key: str, job_id: str) -> dict:
    async def probe():
        job = (await api.gql(key, JOB, {"id": job_id}))["importJob"]
        return job if job["status"] in ("COMPLETED", "FAILED") else None

    return await eventually(probe)


async def contacts_by_email(api, key: str) -> dict[str, dict]:
    data = await api.gql(key, CONTACTS)
    return {e["node"]["email"]: e["node"] for e in data["contacts"]["edges"]}


async def post_csv(api, key: str, text: str | bytes, **params) -> httpx.Response:
    headers = {**bearer(key), "Content-Type": "text/csv"}
    body = text.encode() if isinstance(text, str) else text
    return await api.http.post("/v1/import", content=body, headers=headers, params=params)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(csv_import, "CHUNK_ROWS", 3)


class Held:
    """Import jobs created but not queued: the test runs or releases them itself."""

    def __init__(self, enqueue) -> None:
        self.queued: list[str] = []
        self._enqueue = enqueue

    async def hold(self, actor_name: str, *args: object) -> None:
        self.queued.append(str(args[0]))

    async def release(self, job_id: str) -> None:
        await self._enqueue(csv_import.RUN_CONTACT_IMPORT, job_id)


@pytest.fixture
def held(monkeypatch) -> Held:
    held = Held(csv_import.jobs.enqueue)
    monkeypatch.setattr(csv_import.jobs, "enqueue", held.hold)
    return held


async def test_import_upserts_by_identity_and_reports_each_bad_row(api, services, small_chunks):
    t = await new_tenant()
    defined = await api.gql(
        t.secret_key,
        'mutation { defineCustomField(key: "score", type: NUMBER) { userErrors { code } } }',
    )
    assert defined["defineCustomField"]["userErrors"] == []
    existing = await api.gql(
        t.secret_key,
        'mutation { createContact(input: {email: "old@example.com", properties: {city: "Pune"}, tags: ["existing"]}) { contact { id } } }',
    )
    old_id = existing["createContact"]["contact"]["id"]
    text = (
        "Email,First Name,score,tags,user_id\r\n"
        'ann@example.com,Ann,10,"vip, b2b",\r\n'  # 2
        ",Nobody,5,vip,\r\n"  # 3: no identifier
        "not-an-email,Bad,1,,\r\n"  # 4: bad email
        "cal@example.com,Cal,abc,,\r\n"  # 5: not a number
        "ANN@example.com,Annie,11,late,\r\n"  # 6: same person as row 2, next chunk
        "OLD@example.com,Olga,,returning,\r\n"  # 7: an existing contact
        "dan@example.com,Dan,3,,u-dan\r\n"  # 8
        f'eve@example.com,"{FORMULA}",,,\r\n'  # 9: a formula, kept as text
        "fay@example.com,Fay,1,,,extra\r\n"  # 10: one cell too many
    )
    data = await api.gql(t.secret_key, IMPORT, {"csv": text, "filename": "../people.csv"})
    payload = data["importContacts"]
    assert payload["userErrors"] == []
    job = payload["importJob"]
    assert (job["status"], job["filename"], job["totalRows"]) == ("QUEUED", "people.csv", 9)
    assert job["mapping"] == {
        "Email": "email",
        "First Name": "properties.first_name",
        "score": "properties.score",
        "tags": "tags",
        "user_id": "user_id",
    }

    done = await finished(api, t.secret_key, job["id"])
    assert done["status"] == "COMPLETED", done
    assert (done["processedRows"], done["accepted"], done["rejected"]) == (9, 5, 4)
    assert done["errors"] == [
        {
            "row": 3,
            "column": None,
            "reason": "No identifier: the row needs a user id, email, phone or anonymous id.",
        },
        {
            "row": 4,
            "column": "Email",
            "reason": "Not a valid email address: An email address must have an @-sign.",
        },
        {"row": 5, "column": "score", "reason": "score must be a number; got 'abc'."},
        {"row": 10, "column": None, "reason": "The row has 6 cells; the header has 5."},
    ]
    assert done["startedAt"] and done["finishedAt"] and done["failureReason"] is None

    people = await contacts_by_email(api, t.secret_key)
    assert sorted(people) == [
        "ann@example.com",
        "dan@example.com",
        "eve@example.com",
        "old@example.com",
    ]
    ann = people["ann@example.com"]
    assert ann["properties"] == {"first_name": "Annie", "score": 11}  # the later row wins
    assert sorted(ann["tags"]) == ["b2b", "late", "vip"]
    assert ann["anonymousIds"] == []  # rows identified by email alone add no anonymous id
    old = people["old@example.com"]
    assert old["id"] == old_id
    assert old["properties"] == {"city": "Pune", "first_name": "Olga"}
    assert sorted(old["tags"]) == ["existing", "returning"]
    assert (
        people["dan@example.com"]["userId"],
        people["dan@example.com"]["properties"]["score"],
    ) == ("u-dan", 3)
    assert people["eve@example.com"]["properties"]["first_name"] == FORMULA
    events = await events_of(t)
    assert len(events) == 5 and {e.source for e in events} == {"import"}
    assert not await ImportFile.find({"job_id": PydanticObjectId(raw(job["id"]))}).to_list()


async def test_whole_file_problems_come_back_at_once(api, services, held):
    t = await new_tenant()
    cases = [
        ({"csv": ""}, "csv", "The file is empty."),
        ({"csv": "email\n"}, "csv", "The file has a header row but no data rows."),
        ({"csv": "email,email\na,b\n"}, "csv", "Duplicate column 'email' (columns 1 and 2)."),
        ({"csv": "name\nAnn\n"}, "mapping", "No column maps to an identifier"),
        (
            {"csv": "mail\na@x.co\n", "mapping": {"mail": "e-mail"}},
            "mapping.mail",
            "Unknown target",
        ),
        (
            {"csv": "mail\na@x.co\n", "mapping": {"other": "email"}},
            "mapping.other",
            "not in the file",
        ),
        ({"csv": "mail\na@x.co\n", "mapping": ["mail"]}, "mapping", "must be an object"),
    ]
    for variables, field, message in cases:
        payload = (await api.gql(t.secret_key, IMPORT, variables))["importContacts"]
        assert payload["importJob"] is None
        [error] = payload["userErrors"]
        assert (error["field"], error["code"]) == (field, "INVALID"), error
        assert message in error["message"]
    reader = (
        await api.gql(
            t.secret_key, 'mutation { issueApiKey(input: {name: "r", scopes: ["read"]}) { key } }'
        )
    )["issueApiKey"]["key"]
    payload = (await api.gql(reader, IMPORT, {"csv": "email\na@x.co\n"}))["importContacts"]
    assert payload["userErrors"][0]["code"] == "FORBIDDEN"
    assert (
        held.queued == []
        and await ImportJob.find({"workspace_id": PydanticObjectId(t.workspace_id)}).count() == 0
    )


async def test_http_import_csv_body_multipart_and_refusals(api, services, settings):
    t = await new_tenant()
    response = await post_csv(
        api,
        t.secret_key,
        "Mail,Name\r\nzed@example.com,Zed\r\n",
        filename="zed.csv",
        mapping=json.dumps({"Mail": "email", "Name": "properties.name"}),
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["status"], body["filename"], body["totalRows"]) == ("queued", "zed.csv", 1)
    assert (await finished(api, t.secret_key, body["importId"]))["accepted"] == 1

    # Multipart with a mapping part, larger than the global body limit (the import's
    # own limit applies): the padding column is not imported.
    pad = "p" * 60_000
    rows = "".join(f"m{i}@example.com,{pad}\r\n" for i in range(4))
    text = "email,padding\r\n" + rows
    assert len(text) > settings.max_body_bytes
    response = await api.http.post(
        "/v1/import",
        headers=bearer(t.secret_key),
        files={"file": ("big.csv", text.encode(), "text/csv")},
        data={"mapping": json.dumps({"email": "email"})},
    )
    assert response.status_code == 202, response.text
    done = await finished(api, t.secret_key, response.json()["importId"])
    assert (done["filename"], done["accepted"], done["mapping"]) == (
        "big.csv",
        4,
        {"email": "email"},
    )
    people = await contacts_by_email(api, t.secret_key)
    assert people["m0@example.com"]["properties"] == {}
    assert people["zed@example.com"]["properties"] == {"name": "Zed"}

    form = {
        "Authorization": f"Bearer {t.secret_key}",
        "Content-Type": "multipart/form-data; boundary=xyz",
    }
    refusals = [
        (await post_csv(api, t.write_key, "email\na@x.co\n"), 403, "Write keys"),
        (
            await api.http.post(
                "/v1/import", content=b"email\na@x.co\n", headers={"Content-Type": "text/csv"}
            ),
            401,
            "Missing credentials",
        ),
        (await post_csv(api, t.secret_key, b""), 400, "The file is empty."),
        (await post_csv(api, t.secret_key, b"email\n\xff\xfe\n"), 400, "not UTF-8"),
        (
            await post_csv(api, t.secret_key, "email\na@x.co\n", mapping="{nope"),
            400,
            "not valid JSON",
        ),
        (
            await post_csv(api, t.secret_key, "email\na@x.co\n", mapping='{"email": "mail"}'),
            400,
            "Unknown target",
        ),
        (
            await api.http.post("/v1/import", content=b"--xyz\r\nno headers here", headers=form),
            400,
            "multipart body",
        ),
        (await api.http.post("/v1/import", content=b"", headers=form), 400, "multipart body"),
        (
            await api.http.post(
                "/v1/import",
                content=b'--xyz\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--xyz--\r\n',
                headers=form,
            ),
            400,
            "needs a 'file' part",
        ),
        (
            await api.http.post("/v1/import", json={"csv": "email"}, headers=bearer(t.secret_key)),
            415,
            "text/csv",
        ),
        (
            await post_csv(api, t.secret_key, b"email\n" + b"a" * MAX_FILE_BYTES),
            413,
            "larger than 10 MB",
        ),
    ]
    for response, status, message in refusals:
        assert response.status_code == status, response.text
        assert message in response.json()["error"]["message"], response.text
    too_big = await post_csv(api, t.secret_key, b"x" * (ROUTE_LIMITS["/v1/import"] + 1))
    assert too_big.status_code == 413 and "too large" in too_big.text
    jobs = await ImportJob.find({"workspace_id": PydanticObjectId(t.workspace_id)}).to_list()
    assert len(jobs) == 2


async def _subscribe(base_url: str, key: str, job_id: str):
    ws = await websockets.connect(
        base_url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}})
    )
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    query = "subscription($id: ID!) { importProgress(id: $id) { status processedRows totalRows accepted rejected } }"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": query, "variables": {"id": job_id}},
            }
        )
    )
    return ws


async def test_subscription_streams_progress_until_completion(
    api, base_url, services, held, monkeypatch
):
    monkeypatch.setattr(csv_import, "CHUNK_ROWS", 2)
    real_ingest = ingest.ingest

    async def slow_ingest(*args, **kwargs):
        await asyncio.sleep(0.2)  # make each chunk visible to the subscriber
        return await real_ingest(*args, **kwargs)

    monkeypatch.setattr(ingest, "ingest", slow_ingest)
    t = await new_tenant()
    text = "email\n" + "".join(f"s{i}@example.com\n" for i in range(6)) + "bad\n"
    job = (await api.gql(t.secret_key, IMPORT, {"csv": text}))["importContacts"]["importJob"]
    ws = await _subscribe(base_url, t.secret_key, job["id"])
    try:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["payload"]["data"]["importProgress"] == {
            "status": "QUEUED",
            "processedRows": 0,
            "totalRows": 7,
            "accepted": 0,
            "rejected": 0,
        }
        await asyncio.sleep(0.2)  # let the Redis subscription take hold
        await held.release(job["id"])
        states = []
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if message["type"] == "complete":
                break
            assert message["type"] == "next", message
            states.append(message["payload"]["data"]["importProgress"])
    finally:
        await ws.close()
    processed = [s["processedRows"] for s in states]
    assert processed == sorted(processed)
    assert any(
        0 < n < 7 and s["status"] == "RUNNING" for n, s in zip(processed, states, strict=True)
    )
    assert states[-1] == {
        "status": "COMPLETED",
        "processedRows": 7,
        "totalRows": 7,
        "accepted": 6,
        "rejected": 1,
    }


async def test_a_retried_run_stores_nothing_twice(api, services, held, monkeypatch):
    monkeypatch.setattr(csv_import, "CHUNK_ROWS", 2)
    t = await new_tenant()
    text = "email,tags\n" + "".join(f"r{i}@example.com,t{i}\n" for i in range(5)) + ",orphan\n"
    job_id = (await api.gql(t.secret_key, IMPORT, {"csv": text}))["importContacts"]["importJob"][
        "id"
    ]
    job_id = raw(job_id)  # the worker's job message carries the raw id
    real_tagging = csv_import._tag_contacts
    calls = 0

    async def crash_on_second_chunk(*args):
        nonlocal calls
        calls += 1
        if calls == 2:  # chunk 2 is stored, but the worker dies before its checkpoint
            raise RuntimeError("worker lost")
        await real_tagging(*args)

    monkeypatch.setattr(csv_import, "_tag_contacts", crash_on_second_chunk)
    with pytest.raises(RuntimeError):
        await csv_import.run_import(job_id)
    halfway = await ImportJob.get(PydanticObjectId(job_id))
    assert (halfway.status, halfway.processed_rows, halfway.accepted, halfway.attempts) == (
        "running",
        2,
        2,
        1,
    )

    monkeypatch.setattr(csv_import, "_tag_contacts", real_tagging)
    await csv_import.run_import(job_id)  # the retry resumes at the checkpoint
    await csv_import.run_import(job_id)  # and a late duplicate delivery does nothing
    done = (await api.gql(t.secret_key, JOB, {"id": job_id}))["importJob"]
    assert (done["status"], done["processedRows"], done["accepted"], done["rejected"]) == (
        "COMPLETED",
        6,
        5,
        1,
    )
    assert [e["row"] for e in done["errors"]] == [7]
    assert len(await events_of(t)) == 5
    people = await contacts_by_email(api, t.secret_key)
    assert len(people) == 5
    assert all(c["tags"] == [f"t{email[1]}"] for email, c in people.items())


async def test_repeated_failures_end_the_job(api, services, held, monkeypatch):
    t = await new_tenant()
    job_id = (await api.gql(t.secret_key, IMPORT, {"csv": "email\na@example.com\n"}))[
        "importContacts"
    ]["importJob"]["id"]
    job_id = raw(job_id)  # the worker's job message carries the raw id

    async def broken(*args, **kwargs):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(ingest, "ingest", broken)
    for _ in range(csv_import.MAX_RETRIES):
        with pytest.raises(ConnectionError):
            await csv_import.run_import(job_id)
    await csv_import.run_import(job_id)  # the last attempt gives up and says so
    job = (await api.gql(t.secret_key, JOB, {"id": job_id}))["importJob"]
    assert job["status"] == "FAILED" and "repeated errors" in job["failureReason"]
    assert not await ImportFile.find({"job_id": PydanticObjectId(job_id)}).to_list()


async def test_tenants_see_neither_each_others_imports_nor_contacts(api, base_url, services):
    a, b = await new_tenant("A"), await new_tenant("B")
    response = await post_csv(
        api, a.secret_key, "email,name\na1@example.com,A One\na2@example.com,A Two\n"
    )
    job_id = response.json()["importId"]
    assert (await finished(api, a.secret_key, job_id))["accepted"] == 2
    await post_csv(api, b.secret_key, "email\nb1@example.com\n")

    assert (await api.gql(b.secret_key, JOB, {"id": job_id}))["importJob"] is None
    assert (await api.gql(b.secret_key, JOB, {"id": "not-an-id"}))["importJob"] is None
    ws = await _subscribe(base_url, b.secret_key, job_id)
    try:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["type"] == "error" or message["payload"]["errors"], message
        assert "Import not found" in json.dumps(message)
    finally:
        await ws.close()

    async def export_of(key: str) -> str:
        response = await api.http.get("/v1/export/contacts", headers=bearer(key))
        assert response.status_code == 200, response.text
        return response.text

    theirs = await export_of(b.secret_key)
    assert "a1@example.com" not in theirs and "A One" not in theirs
    assert "a1@example.com" in await export_of(a.secret_key)
    # B's search, tag and id filters cannot reach A's contacts either.
    response = await api.http.get(
        "/v1/export/contacts", headers=bearer(b.secret_key), params={"search": "a1"}
    )
    assert len(list(csv.reader(io.StringIO(response.text)))) == 1  # the header only


async def test_export_streams_any_contact_query_as_csv(api, services, monkeypatch):
    monkeypatch.setattr(csv_export, "EXPORT_PAGE_SIZE", 2)
    t = await new_tenant()
    create = "mutation($input: ContactInput!) { createContact(input: $input) { contact { id } userErrors { message } } }"
    inputs = [
        {
            "email": "p0@example.com",
            "userId": "u0",
            "phone": "+14155550100",
            "tags": ["vip"],
            "properties": {"first_name": FORMULA, "plan": "pro", "visits": 3},
        },
        {
            "email": "p1@example.com",
            "tags": ["vip", "b2b"],
            "properties": {"note": "@SUM(A1)", "city": "Pune, MH"},
        },
        {
            "email": "p2@example.com",
            "tags": ["vip"],
            "properties": {"balance": -5, "note": "line\nbreak"},
        },
        {"email": "p3@example.com", "properties": {"first_name": "Not VIP"}},
        {"email": "p4@example.com", "tags": ["vip"], "properties": {"id": "clash"}},
    ]
    ids = []
    for values in inputs:
        data = await api.gql(t.secret_key, create, {"input": values})
        ids.append(raw(data["createContact"]["contact"]["id"]))  # exports hold raw ids

    response = await api.http.get(
        "/v1/export/contacts", headers=bearer(t.secret_key), params={"tag": "vip", "search": ""}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    header, body = rows[0], rows[1:]
    assert header == [
        "id",
        "user_id",
        "email",
        "phone",
        "anonymous_ids",
        "tags",
        "created_at",
        "last_active_at",
        "first_name",
        "city",
        "plan",
        "balance",
        "properties.id",
        "note",
        "visits",
    ]
    assert [r[0] for r in body] == [ids[0], ids[1], ids[2], ids[4]]  # creation order, vip only
    record = [dict(zip(header, r, strict=True)) for r in body]
    assert record[0]["first_name"] == "'" + FORMULA  # escaped against formula injection
    assert (record[0]["phone"], record[0]["visits"], record[0]["user_id"]) == (
        "+14155550100",
        "3",
        "u0",
    )
    assert record[1]["note"] == "'@SUM(A1)" and record[1]["city"] == "Pune, MH"
    assert record[1]["tags"] == "vip,b2b" or record[1]["tags"] == "b2b,vip"
    assert (record[2]["balance"], record[2]["note"]) == ("-5", "line\nbreak")
    assert record[3]["properties.id"] == "clash"

    everyone = await api.http.get("/v1/export/contacts", headers=bearer(t.secret_key))
    assert len(list(csv.reader(io.StringIO(everyone.text, newline="")))) == 6
    reader = (
        await api.gql(
            t.secret_key, 'mutation { issueApiKey(input: {name: "r", scopes: ["read"]}) { key } }'
        )
    )["issueApiKey"]["key"]
    assert (await api.http.get("/v1/export/contacts", headers=bearer(reader))).status_code == 200
    tracker = (
        await api.gql(
            t.secret_key, 'mutation { issueApiKey(input: {name: "t", scopes: ["track"]}) { key } }'
        )
    )["issueApiKey"]["key"]
    assert (await api.http.get("/v1/export/contacts", headers=bearer(tracker))).status_code == 403
    refused = await api.http.get("/v1/export/contacts", headers=bearer(t.write_key))
    assert refused.status_code == 403 and "Write keys" in refused.json()["error"]["message"]
    assert (await api.http.get("/v1/export/contacts")).status_code == 401

    # The export imports again into another workspace: same people, same values.
    other = await new_tenant()
    response = await post_csv(api, other.secret_key, everyone.text)
    assert response.status_code == 202, response.text
    done = await finished(api, other.secret_key, response.json()["importId"])
    assert (done["accepted"], done["rejected"]) == (5, 0), done
    copied = await contacts_by_email(api, other.secret_key)
    assert copied["p0@example.com"]["properties"]["first_name"] == FORMULA
    assert copied["p0@example.com"]["userId"] == "u0"
    assert copied["p2@example.com"]["properties"]["note"] == "line\nbreak"
    assert sorted(copied["p1@example.com"]["tags"]) == ["b2b", "vip"]
    assert len(await contacts_of(other)) == 5


async def test_graphql_multipart_upload(api, services):
    t = await new_tenant()
    operations = {
        "query": "mutation($file: Upload!) { importContactsFile(file: $file) "
        "{ importJob { id filename } userErrors { field message } } }",
        "variables": {"file": None},
    }
    response = await api.http.post(
        "/graphql",
        headers={"Authorization": f"Bearer {t.secret_key}"},
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("people.csv", b"email,city\nup@example.com,Goa\n", "text/csv")},
    )
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["importContactsFile"]
    assert payload["userErrors"] == [] and payload["importJob"]["filename"] == "people.csv"

    async def imported():
        # The import job counts the row done after its contact is fully written.
        job = await ImportJob.get(PydanticObjectId(raw(payload["importJob"]["id"])))
        return job if job and job.status == "completed" else None

    await eventually(imported)
    contact = await Contact.find_one(
        {"workspace_id": PydanticObjectId(t.workspace_id), "email": "up@example.com"}
    )
    assert contact.properties == {"city": "Goa"}
