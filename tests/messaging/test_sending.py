"""Sending through real parts: SMTP (aiosmtpd), a local Twilio/FCM/web push/webhook server,
the in-app inbox; tracking links, status callbacks and replies coming back."""

from __future__ import annotations

import email
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from beanie import PydanticObjectId

from channels.webpush import generate_vapid_keys
from documents.channel import ChannelConfig
from documents.contact import Contact
from documents.message import OutboundMessage
from resolvers.messaging import deliver, dispatch, engagement, queue
from tests.helpers import eventually, gid, new_tenant, raw
from tests.provider_server import post_status
from tests.sending_helpers import CONFIGURE, EMAIL, SMS, configure, contact, request, settled
from tests.smtp_server import smtp_server as running_smtp_server
from tests.tracking_helpers import events_of


@pytest.fixture(name="smtp_server")
def smtp_fixture():
    with running_smtp_server() as server:
        yield server


async def _queue_one(req) -> OutboundMessage:
    [queued] = await queue.queue([req])
    assert queued.message_id is not None, queued
    return await settled(queued.message_id)


def _part(message: email.message.Message, kind: str) -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{kind}":
            return part.get_payload(decode=True).decode()
    raise AssertionError(f"no text/{kind} part")


async def test_email_over_smtp_tracks_opens_clicks_and_unsubscribes(api, services, smtp_server):
    inbox, url = smtp_server
    t = await new_tenant()
    setup = await configure(
        api, t, "email", {"provider": "smtp", "url": url, "from": "Brand <hi@brand.test>"}
    )
    assert setup["userErrors"] == []
    cid = await contact(api, t, email="asha@example.com", properties={"first_name": "Asha"})
    content = {
        "email": {
            "subject": "Hi {{ contact.first_name | default('there') }}",
            "text": "Sale now. Unsubscribe: {{ message.unsubscribe_url }}",
            "html": '<p>Hi {{ contact.first_name }}</p><a href="https://shop.test/sale?a=1&amp;b=2">Shop</a>'
            '<a href="mailto:help@brand.test">Help</a></body>',
        }
    }
    row = await _queue_one(request(t, cid, ["email"], content))
    assert row.status == "sent", row.reason
    assert row.provider == "smtp" and row.subject == "Hi Asha"
    [mail] = inbox.messages
    assert mail["Subject"] == "Hi Asha" and mail["To"] == "asha@example.com"
    assert mail["List-Unsubscribe-Post"] is None  # RFC 8058 one-click needs https
    unsubscribe_url = mail["List-Unsubscribe"].strip("<>")
    html = _part(mail, "html")
    assert "mailto:help@brand.test" in html and "https://shop.test" not in html
    click_url = re.search(r'href="([^"]*/t/c/[^"]+)"', html).group(1).replace("&amp;", "&")
    pixel_url = re.search(r'src="([^"]*/t/o/[^"]+)"', html).group(1)
    assert unsubscribe_url in _part(mail, "plain")

    opened = await api.http.get(urlsplit(pixel_url).path)
    assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
    clicked = await api.http.get(urlsplit(click_url).path)
    assert clicked.status_code == 302
    assert clicked.headers["location"] == "https://shop.test/sale?a=1&b=2"
    await api.http.get(urlsplit(pixel_url).path)  # a second open counts once

    page = await api.http.get(urlsplit(unsubscribe_url).path)
    assert page.status_code == 200 and "<form" in page.text  # GET only asks
    assert (await Contact.get(cid)).consent.get("email") is None
    done = await api.http.post(
        urlsplit(unsubscribe_url).path, data={"List-Unsubscribe": "One-Click"}
    )
    assert done.status_code == 200 and "email" in done.text

    row = await OutboundMessage.get(row.id)
    assert row.opened_at and row.clicked_at and row.unsubscribed_at
    names = [e.event for e in await events_of(t)]
    assert names.count("email_opened") == 1 and names.count("email_clicked") == 1
    assert "email_sent" in names and "email_unsubscribed" in names
    clicked_event = next(e for e in await events_of(t) if e.event == "email_clicked")
    assert clicked_event.properties["message_id"] == str(row.id)
    assert clicked_event.properties["url"] == "https://shop.test/sale?a=1&b=2"
    assert (await Contact.get(cid)).consent["email"]["status"] == "unsubscribed"

    # Opted out: the next email is not even queued, and nothing reaches the SMTP server.
    [again] = await queue.queue([request(t, cid, ["email"], EMAIL)])
    assert again.status == "skipped" and "unsubscribed" in again.reason
    assert len(inbox.messages) == 1


async def test_sms_status_callbacks_replies_and_stop(api, services, provider_server):
    t = await new_tenant()
    config = provider_server.twilio_config()
    provider_server.twilio_callbacks = ("sent", "delivered")
    assert (await configure(api, t, "sms", config))["userErrors"] == []
    cid = await contact(api, t, phone="+14155550123", properties={"first_name": "Ravi"})
    row = await _queue_one(request(t, cid, ["sms"], SMS))
    assert row.status in ("sent", "delivered") and row.provider_message_id.startswith("SM")
    [sent] = provider_server.of("twilio")
    assert sent.form["To"] == "+14155550123" and sent.form["Body"] == "Hi Ravi"
    assert sent.form["From"] == config["from"]
    assert "/v1/providers/status/" in sent.form["StatusCallback"]

    async def delivered():
        fresh = await OutboundMessage.get(row.id)
        return fresh if fresh.status == "delivered" else None

    assert (await eventually(delivered)).delivered_at is not None
    assert all(code == 200 for _, _, code in provider_server.callbacks)
    assert "sms_delivered" in [e.event for e in await events_of(t)]

    # A callback with a wrong signature is refused and changes nothing.
    forged = await post_status(
        sent.form["StatusCallback"],
        {"MessageSid": row.provider_message_id, "MessageStatus": "undelivered"},
        "not-the-token",
    )
    assert forged.status_code == 403
    assert (await OutboundMessage.get(row.id)).status == "delivered"

    inbound = engagement.inbound_url(PydanticObjectId(t.workspace_id))
    reply = {
        "From": "+14155550123",
        "To": config["from"],
        "Body": "Thanks!",
        "MessageSid": "SM" + "1" * 32,
    }
    answer = await post_status(inbound, reply, config["auth_token"])
    assert answer.status_code == 200 and "<Response>" in answer.text
    assert (await OutboundMessage.get(row.id)).replied_at is not None
    stop = await post_status(inbound, {**reply, "Body": " STOP "}, config["auth_token"])
    assert stop.status_code == 200
    assert (await Contact.get(cid)).consent["sms"]["status"] == "unsubscribed"
    [blocked] = await queue.queue([request(t, cid, ["sms"], SMS)])
    assert blocked.status == "skipped"
    bad = await post_status(inbound, {"From": "nonsense", "To": "x"}, config["auth_token"])
    assert bad.status_code == 400


async def test_channel_fallback_follows_address_and_consent(api, services):
    t = await new_tenant()
    content = {**EMAIL, **SMS}
    phone_only = await contact(api, t, phone="+14155550124")
    both = await contact(api, t, email="both@example.com", phone="+14155550125")
    nothing = await contact(api, t, userId="u-nothing")
    await api.gql(
        t.secret_key,
        "mutation($id: ID!) { setContactConsent(id: $id, channel: EMAIL, status: UNSUBSCRIBED) { userErrors { message } } }",
        {"id": str(both)},
    )
    reqs = [request(t, c, ["email", "sms"], content) for c in (phone_only, both, nothing)]
    first, second, third = await queue.queue(reqs)
    assert first.channel == "sms" and second.channel == "sms"
    assert third.status == "skipped" and third.reason.startswith("no_channel")
    for queued in (first, second):
        row = await settled(queued.message_id)
        assert row.status == "sent" and row.provider == "sandbox" and row.channel == "sms"

    async def counted():  # the counter is written just after the row's status
        metrics = (await api.http.get("/metrics")).text
        sent = re.search(r'reach_sends_total\{channel="sms",status="sent"\} (\d+)', metrics)
        return sent and float(sent.group(1)) >= 2

    assert await eventually(counted, timeout=30)


async def test_push_web_push_webhook_and_in_app(api, services, provider_server):
    t = await new_tenant()
    cid = await contact(api, t, email="p@example.com", properties={"first_name": "Mei"})
    register = "mutation($c: ID!, $k: String!, $t: String, $s: JSON) { registerDevice(contactId: $c, kind: $k, token: $t, subscription: $s) { userErrors { field message } } }"
    subscription = provider_server.new_subscription()
    data = await api.gql(
        t.secret_key, register, {"c": str(cid), "k": "fcm", "t": "device-token-123"}
    )
    assert data["registerDevice"]["userErrors"] == []
    data = await api.gql(t.secret_key, register, {"c": str(cid), "k": "web", "s": subscription})
    assert data["registerDevice"]["userErrors"] == []
    bad = await api.gql(t.secret_key, register, {"c": str(cid), "k": "web", "s": {"endpoint": "x"}})
    assert bad["registerDevice"]["userErrors"]

    assert (await configure(api, t, "push", provider_server.fcm_config()))["userErrors"] == []
    vapid = generate_vapid_keys()
    web = {"provider": "vapid", **vapid, "subject": "mailto:ops@brand.test"}
    assert (await configure(api, t, "web_push", web))["userErrors"] == []
    assert (await configure(api, t, "webhook", provider_server.webhook_config("crm")))[
        "userErrors"
    ] == []
    push = {
        "title": "Hi {{ contact.first_name }}",
        "body": "New arrivals",
        "url": "https://shop.test/new",
    }
    content = {
        "push": push,
        "web_push": push,
        "in_app": push,
        "webhook": {"body": '{"hello": "{{ contact.first_name }}"}'},
    }
    for channel in ("push", "web_push", "webhook", "in_app"):
        row = await _queue_one(request(t, cid, [channel], content))
        assert row.status == "sent", (channel, row.reason)

    [fcm] = provider_server.of("fcm")
    message = fcm.json["message"]
    assert message["token"] == "device-token-123"
    assert message["notification"] == {"title": "Hi Mei", "body": "New arrivals"}
    [webpush] = provider_server.of("webpush")
    assert webpush.vapid_claims is not None and b"Hi Mei" in webpush.plaintext
    [hook] = provider_server.of("webhook")
    assert hook.signature_ok and hook.json == {"hello": "Mei"}

    inbox_query = (
        "query($c: ID!) { contactInbox(contactId: $c) { edges { node { id title url readAt } } } }"
    )
    items = (await api.gql(t.secret_key, inbox_query, {"c": str(cid)}))["contactInbox"]["edges"]
    [item] = [e["node"] for e in items]
    assert item["title"] == "Hi Mei" and "/t/c/" in item["url"] and item["readAt"] is None
    mark = 'mutation($id: ID!) { markInboxItem(id: $id, action: "read") { item { readAt } userErrors { message } } }'
    marked = (await api.gql(t.secret_key, mark, {"id": item["id"]}))["markInboxItem"]
    assert marked["item"]["readAt"] is not None
    assert "in_app_opened" in [e.event for e in await events_of(t)]
    # Another workspace cannot read or mark this inbox.
    other = await new_tenant()
    assert await api.errors(other.secret_key, inbox_query, {"c": str(cid)})
    foreign = (await api.gql(other.secret_key, mark, {"id": item["id"]}))["markInboxItem"]
    assert foreign["userErrors"][0]["message"] == "No such inbox message."

    # The browser unsubscribed: the push service answers 410, the send fails for good.
    provider_server.expire(subscription)
    row = await _queue_one(request(t, cid, ["web_push"], content))
    assert row.status == "failed" and row.reason


async def test_one_row_per_key_retries_and_permanent_errors(api, services, provider_server):
    t = await new_tenant()
    assert (await configure(api, t, "sms", provider_server.twilio_config()))["userErrors"] == []
    cid = await contact(api, t, phone="+14155550126")
    req = request(t, cid, ["sms"], SMS, key="once")
    first, second = await queue.queue([req, req])
    assert first.message_id == second.message_id
    [third] = await queue.queue([request(t, cid, ["sms"], SMS, key="once")])
    assert third.duplicate and third.message_id == first.message_id
    row = await settled(first.message_id)
    assert row.status == "sent"
    assert await deliver.deliver(t.workspace_id, str(row.id)) == "noop"  # a duplicate job
    assert len(provider_server.of("twilio")) == 1

    provider_server.fail_next(1, 500, kind="twilio")
    row = await _queue_one(request(t, cid, ["sms"], SMS))
    assert row.status == "sent" and row.attempts == 2
    assert len(provider_server.of("twilio")) == 3  # one refused, one accepted

    provider_server.fail_next(1, 400, kind="twilio")
    row = await _queue_one(request(t, cid, ["sms"], SMS))
    assert row.status == "failed" and "21211" in row.reason and row.attempts == 1
    names = [e.event for e in await events_of(t)]
    assert names.count("sms_failed") == 1 and names.count("sms_sent") == 2


async def test_frequency_caps_and_quiet_hours(api, services):
    t = await new_tenant()
    rules = """mutation($caps: [FrequencyCapInput!], $quiet: QuietHoursInput) {
      updateSendingRules(frequencyCaps: $caps, quietHours: $quiet) {
        sendingRules { frequencyCaps { channel limit days } quietHours { start end } }
        userErrors { field message }
      }
    }"""
    data = await api.gql(
        t.secret_key, rules, {"caps": [{"channel": "email", "limit": 1, "days": 7}]}
    )
    assert data["updateSendingRules"]["userErrors"] == []
    bad = await api.gql(t.secret_key, rules, {"caps": [{"channel": "fax", "limit": 0, "days": 7}]})
    assert bad["updateSendingRules"]["userErrors"][0]["field"] == "frequencyCaps[0].channel"
    cid = await contact(api, t, email="cap@example.com", phone="+14155550127")
    first, second = await queue.queue(
        [request(t, cid, ["email"], EMAIL), request(t, cid, ["email"], EMAIL)]
    )
    assert first.status == "queued" and second.status == "skipped"
    assert second.reason == "frequency_cap"
    [sms] = await queue.queue([request(t, cid, ["sms"], SMS)])  # other channels are free
    assert sms.status == "queued"

    # Quiet hours around now, in the contact's own timezone (Asia/Kolkata, UTC+05:30).
    now = datetime.now(UTC)
    local = now + timedelta(hours=5, minutes=30)
    start, end = (
        (local - timedelta(hours=1)).strftime("%H:%M"),
        (local + timedelta(hours=1)).strftime("%H:%M"),
    )
    quiet = await api.gql(t.secret_key, rules, {"quiet": {"start": start, "end": end}})
    assert quiet["updateSendingRules"]["sendingRules"]["quietHours"] == {"start": start, "end": end}
    night = await contact(api, t, phone="+14155550128", properties={"timezone": "Asia/Kolkata"})
    [held] = await queue.queue([request(t, night, ["sms"], SMS)], now=now)
    assert held.status == "scheduled" and held.reason == "quiet_hours"
    row = await OutboundMessage.get(held.message_id)
    opens = row.due_at.replace(tzinfo=UTC)
    assert timedelta(minutes=58) < opens - now <= timedelta(hours=1, minutes=1)
    assert (await dispatch.dispatch_due(now=now))["woken"] == 0
    await dispatch.dispatch_due(now=opens + timedelta(seconds=1))
    assert (await settled(row.id)).status == "sent"


async def test_render_errors_fail_the_message_not_the_customer(api, services, smtp_server):
    inbox, url = smtp_server
    t = await new_tenant()
    await configure(api, t, "email", {"provider": "smtp", "url": url})
    cid = await contact(api, t, email="render@example.com")
    broken = {"email": {"subject": "Hi {{ contact.first_name }}", "text": "x"}}
    row = await _queue_one(request(t, cid, ["email"], broken))
    assert row.status == "failed" and row.reason.startswith("render_failed")
    assert "first_name" in row.reason and inbox.messages == []


async def test_interrupted_send_is_closed_not_repeated(api, services, provider_server):
    t = await new_tenant()
    await configure(api, t, "sms", provider_server.twilio_config())
    cid = await contact(api, t, phone="+14155550129")
    [queued] = await queue.queue(
        [request(t, cid, ["sms"], SMS, not_before=datetime.now(UTC) + timedelta(days=1))]
    )
    # As if a worker claimed it and died during the provider call an hour ago.
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    await OutboundMessage.get_pymongo_collection().update_one(
        {"_id": queued.message_id}, {"$set": {"status": "sending", "claimed_at": long_ago}}
    )
    counts = await dispatch.dispatch_due()
    assert counts["interrupted"] >= 1
    row = await OutboundMessage.get(queued.message_id)
    assert row.status == "failed" and row.reason.startswith("interrupted")
    assert await deliver.deliver(t.workspace_id, str(row.id)) == "noop"
    assert provider_server.of("twilio") == []


async def test_forged_links_and_other_tenants(api, services):
    a, b = await new_tenant(), await new_tenant()
    cid = await contact(api, a, email="t@example.com")
    row = await _queue_one(request(a, cid, ["email"], EMAIL))
    assert row.status == "sent"
    pixel = await api.http.get("/t/o/forged-token.gif")
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    assert (await api.http.get("/t/c/forged")).status_code == 400
    assert (await api.http.post("/t/u/forged")).status_code == 400
    assert (
        await api.http.post("/v1/providers/status/forged", data={"MessageSid": "x"})
    ).status_code == 400
    assert (await OutboundMessage.get(row.id)).opened_at is None
    query = "{ messages { edges { node { id status } } } }"
    mine = (await api.gql(a.secret_key, query))["messages"]["edges"]
    assert [e["node"]["id"] for e in mine] == [gid("Message", row.id)]
    assert (await api.gql(b.secret_key, query))["messages"]["edges"] == []


async def test_credentials_are_sealed_and_never_returned(api, services, provider_server):
    t = await new_tenant()
    config = provider_server.twilio_config()
    payload = await configure(api, t, "sms", config)
    assert payload["channelConfig"]["secretFields"] == ["auth_token"]
    assert "auth_token" not in payload["channelConfig"]["settings"]
    raw = await ChannelConfig.get_pymongo_collection().find_one(
        {"workspace_id": PydanticObjectId(t.workspace_id)}
    )
    assert config["auth_token"] not in str(raw)
    bad = await configure(api, t, "sms", {"provider": "twilio", "base_url": "http://10.0.0.1"})
    assert bad["userErrors"][0]["code"] == "CHANNEL_CONFIG_INVALID"
    # An unknown channel is refused by GraphQL's own enum validation, before any resolver.
    unknown = await api.errors(
        t.secret_key, CONFIGURE, {"channel": "FAX", "provider": "sandbox", "config": {}}
    )
    assert "SendChannel" in unknown[0]["message"] and "FAX" in unknown[0]["message"]
    other = await new_tenant()
    seen = await api.gql(other.secret_key, "{ channelConfigs { channel } }")
    assert seen["channelConfigs"] == []


async def test_templates_are_checked_on_save_and_previewed(api, services):
    t = await new_tenant()
    save = """mutation($name: String!, $channel: SendChannel!, $fields: JSON!) {
      saveTemplate(name: $name, channel: $channel, fields: $fields) {
        template { id name } userErrors { field message code }
      }
    }"""
    broken = {"subject": "{% if %}", "html": "{{ ''.__class__.__mro__ }}"}
    errors = (
        await api.gql(t.secret_key, save, {"name": "Bad", "channel": "EMAIL", "fields": broken})
    )["saveTemplate"]["userErrors"]
    fields = {e["field"] for e in errors}
    assert {"content.email.subject", "content.email.text"} <= fields
    good = {
        "subject": "Hi {{ contact.first_name | default('there') }}",
        "text": "Hello from {{ workspace.name | default('us') }}",
    }
    saved = (
        await api.gql(t.secret_key, save, {"name": "Welcome", "channel": "EMAIL", "fields": good})
    )["saveTemplate"]
    assert saved["userErrors"] == [] and saved["template"]["name"] == "Welcome"
    dup = (
        await api.gql(t.secret_key, save, {"name": "Welcome", "channel": "EMAIL", "fields": good})
    )["saveTemplate"]
    assert dup["userErrors"][0]["code"] == "CONFLICT"
    cid = await contact(api, t, email="pv@example.com", properties={"first_name": "Lin"})
    preview = "query($f: JSON!, $c: ID) { previewTemplate(channel: EMAIL, fields: $f, contactId: $c) { rendered userErrors { field message } } }"
    shown = (await api.gql(t.secret_key, preview, {"f": good, "c": str(cid)}))["previewTemplate"]
    assert shown["rendered"]["subject"] == "Hi Lin"
    sample = (await api.gql(t.secret_key, preview, {"f": good}))["previewTemplate"]
    assert sample["rendered"]["subject"] == "Hi Sam"
    lower = await api.errors(t.secret_key, preview.replace("EMAIL", '"email"'), {"f": good})
    assert "SendChannel" in lower[0]["message"]


async def test_an_outlet_sends_through_its_own_provider(api, services, provider_server):
    t = await new_tenant()
    made = await api.gql(
        t.secret_key,
        'mutation { createLocation(input: {name: "Bandra", code: "bandra"}) { location { id } } }',
    )
    outlet = made["createLocation"]["location"]["id"]
    brand = provider_server.twilio_config(sender="+15005550006")
    local = provider_server.twilio_config(sender="+15005550007")
    assert (await configure(api, t, "sms", brand))["userErrors"] == []
    assert (await configure(api, t, "sms", local, loc=outlet))["userErrors"] == []
    cid = await contact(api, t, phone="+14155550130")
    at_outlet = await _queue_one(
        request(t, cid, ["sms"], SMS, location_id=PydanticObjectId(raw(outlet)))
    )
    brand_wide = await _queue_one(request(t, cid, ["sms"], SMS))
    assert at_outlet.status == brand_wide.status == "sent"
    senders = [r.form["From"] for r in provider_server.of("twilio")]
    assert senders == ["+15005550007", "+15005550006"]
    foreign = await configure(api, await new_tenant(), "sms", local, loc=outlet)
    assert foreign["userErrors"][0]["field"] == "locationId"


async def test_whatsapp_and_rcs_use_their_prefixes(api, services, provider_server):
    t = await new_tenant()
    for channel in ("whatsapp", "rcs"):
        assert (await configure(api, t, channel, provider_server.twilio_config()))[
            "userErrors"
        ] == []
    cid = await contact(api, t, phone="+14155550131", properties={"first_name": "Ana"})
    content = {"whatsapp": {"text": "Hola {{ contact.first_name }}"}, "rcs": {"text": "Hi"}}
    for channel in ("whatsapp", "rcs"):
        row = await _queue_one(request(t, cid, [channel], content))
        assert row.status == "sent" and row.channel == channel
    whatsapp, rcs = provider_server.of("twilio")
    assert whatsapp.form["To"] == "whatsapp:+14155550131" and whatsapp.form["Body"] == "Hola Ana"
    assert whatsapp.form["From"].startswith("whatsapp:")
    assert rcs.form["To"] == "rcs:+14155550131"


async def test_a_provider_rate_limit_spreads_sends_over_time(api, services, provider_server):
    t = await new_tenant()
    config = {**provider_server.twilio_config(), "rate_per_second": 2}
    assert (await configure(api, t, "sms", config))["userErrors"] == []
    ids = [await contact(api, t, phone=f"+1415555014{i}") for i in range(6)]
    start = time.time()
    queued = await queue.queue([request(t, cid, ["sms"], SMS) for cid in ids])
    rows = [await settled(q.message_id) for q in queued]
    assert [(r.status, r.reason, r.error) for r in rows] == [("sent", None, None)] * 6
    assert len(provider_server.of("twilio")) == 6
    # At most 2 grants per one-second window, all in windows from int(start) on: the
    # sixth grant is in window int(start) + 2 or later, and a row is marked sent after
    # its grant. Comparing the rows' own seconds would depend on how long each send took.
    last = max(r.sent_at.replace(tzinfo=r.sent_at.tzinfo or UTC).timestamp() for r in rows)
    assert last >= int(start) + 2
    assert any(r.attempts == 1 for r in rows)  # rescheduled sends do not spend attempts


async def test_dispatcher_leaves_system_mail_and_undated_rows_alone(api, services):
    """The embedded engine matches null <= date; MongoDB does not. Either way, invitation
    rows (no contact, no due_at, no claimed_at) are not the dispatcher's to touch."""
    t = await new_tenant()
    ws = PydanticObjectId(t.workspace_id)
    rows = [
        OutboundMessage(
            workspace_id=ws,
            idempotency_key=f"invitation:{i}",
            channel="email",
            to="x@example.com",
            status=status,
        )
        for i, status in enumerate(("queued", "sending"))
    ]
    for row in rows:
        await row.insert()
    await dispatch.dispatch_due(now=datetime.now(UTC) + timedelta(days=1))
    for row in rows:
        fresh = await OutboundMessage.get(row.id)
        assert (fresh.status, fresh.reason) == (row.status, None)


async def test_mobile_sdks_register_push_tokens_through_tracking(api, services, provider_server):
    from tests.tracking_helpers import basic

    t = await new_tenant()
    assert (await configure(api, t, "push", provider_server.fcm_config()))["userErrors"] == []
    context = {"device": {"type": "android", "token": "fcm-token-abcdef123456"}}
    batch = [
        {"type": "identify", "userId": "m1", "context": context},
        {"type": "track", "userId": "m1", "event": "app_opened", "context": context},
        {"type": "track", "userId": "m1", "event": "x", "context": {"device": {"token": "a b"}}},
    ]
    answer = await api.http.post("/v1/batch", json={"batch": batch}, headers=basic(t.write_key))
    assert answer.status_code == 200, answer.text
    contact = await Contact.find_one(
        {"workspace_id": PydanticObjectId(t.workspace_id), "user_id": "m1"}
    )
    assert contact.devices == [{"kind": "fcm", "token": "fcm-token-abcdef123456"}]
    push = {"push": {"title": "Hi", "body": "Back in stock"}}
    row = await _queue_one(request(t, contact.id, ["push"], push))
    assert row.status == "sent"
    assert provider_server.of("fcm")[0].json["message"]["token"] == "fcm-token-abcdef123456"
