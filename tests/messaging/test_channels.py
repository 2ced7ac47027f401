"""Channel providers against real receivers: the local provider server and aiosmtpd."""

from __future__ import annotations

import email
import email.policy
import email.utils
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.datastructures import FormData, UploadFile

from channels import registry, sandbox, transport, twilio, webhook, webpush
from channels.base import Outgoing, SendError
from channels.fcm import FcmPush
from channels.smtp import SmtpEmail
from channels.twilio import TwilioMessages
from channels.webhook import WebhookPost
from channels.webpush import VapidPush
from tests.conftest import free_port
from tests.provider_server import ProviderServer, fcm_error, post_status

PHONE = "+14155550123"


async def refused(provider, message: Outgoing) -> SendError:
    with pytest.raises(SendError) as caught:
        await provider.send(message)
    return caught.value


def sms(channel: str = "sms", to: str = PHONE, text: str = "Hi there", **fields) -> Outgoing:
    return Outgoing(channel=channel, to=to, text=text, **fields)


# --- Twilio: sending ------------------------------------------------------------------


async def test_twilio_posts_the_messages_form_with_basic_auth_and_channel_prefixes(
    provider_server: ProviderServer,
):
    config = provider_server.twilio_config()
    provider = registry.build("sms", config)
    assert isinstance(provider, TwilioMessages)
    callback = "https://app.example.com/v1/providers/twilio/status"
    sent = await provider.send(sms(status_callback=callback))
    assert sent.provider == "twilio" and sent.provider_message_id.startswith("SM")

    for channel, prefix in (("whatsapp", "whatsapp:"), ("rcs", "rcs:")):
        provider = registry.build(channel, config)
        await provider.send(sms(channel))
        # An address that already carries its prefix is not prefixed twice.
        await provider.send(sms(channel, to=prefix + PHONE))

    records = provider_server.of("twilio")
    assert [r.answered for r in records] == [201] * 5
    first = records[0]
    assert first.url.endswith(f"/2010-04-01/Accounts/{config['account_sid']}/Messages.json")
    assert first.basic_auth == (config["account_sid"], config["auth_token"])
    assert first.form == {
        "To": PHONE,
        "From": config["from"],
        "Body": "Hi there",
        "StatusCallback": callback,
    }
    assert [(r.form["To"], r.form["From"]) for r in records[1:]] == [
        (f"whatsapp:{PHONE}", f"whatsapp:{config['from']}"),
        (f"whatsapp:{PHONE}", f"whatsapp:{config['from']}"),
        (f"rcs:{PHONE}", f"rcs:{config['from']}"),
        (f"rcs:{PHONE}", f"rcs:{config['from']}"),
    ]
    assert "StatusCallback" not in records[1].form


async def test_twilio_messaging_service_and_per_message_sender(provider_server: ProviderServer):
    service = "MG" + "0" * 32
    provider = registry.build("sms", provider_server.twilio_config(sender=service))
    await provider.send(sms())
    await provider.send(sms(sender="+15005550009"))
    first, second = provider_server.of("twilio")
    assert first.form["MessagingServiceSid"] == service and "From" not in first.form
    assert second.form["From"] == "+15005550009"


async def test_twilio_refusals_are_permanent_and_outages_retryable(
    provider_server: ProviderServer,
):
    config = provider_server.twilio_config()
    provider = registry.build("sms", config)

    provider_server.fail_next(1, 400)
    error = await refused(provider, sms())
    assert error.permanent and error.code == "21211" and "not a valid phone number" in str(error)

    provider_server.fail_next(1, 429, retry_after=7)
    error = await refused(provider, sms())
    assert not error.permanent and error.retry_after == 7 and error.code == "20429"

    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    provider_server.fail_next(1, 429, retry_after=when)
    error = await refused(provider, sms())
    assert not error.permanent and 100 < error.retry_after <= 120

    provider_server.fail_next(1, 429)  # no Retry-After: the caller's backoff decides
    error = await refused(provider, sms())
    assert not error.permanent and error.retry_after is None

    provider_server.fail_next(1, 503, body="<html>maintenance</html>")
    error = await refused(provider, sms())
    assert not error.permanent and "503" in str(error) and "maintenance" in str(error)

    wrong = registry.build("sms", {**config, "auth_token": "not-the-token"})
    error = await refused(wrong, sms())
    assert error.permanent and error.code == "20003"

    # Nobody listens: the network error is worth another try.
    down = registry.build("sms", {**config, "base_url": f"http://127.0.0.1:{free_port()}"})
    error = await refused(down, sms())
    assert not error.permanent and "unreachable" in str(error)

    assert [r.answered for r in provider_server.of("twilio")] == [400, 429, 429, 429, 503, 401]
    assert await provider.send(sms())  # and the scripted failures are used up


async def test_twilio_refuses_what_it_cannot_send_without_calling(provider_server: ProviderServer):
    provider = registry.build("sms", provider_server.twilio_config())
    cases = [
        (sms(to="0415 555 0123"), "E.164"),
        (sms(to="+1415555012345678"), "E.164"),
        (sms(to="whatsapp:"), "E.164"),
        (Outgoing(channel="sms", to={"endpoint": "x"}, text="hi"), "phone number"),
        (sms(text="   "), "empty"),
        (sms(text="x" * 1601), "1601 characters"),
        (sms(channel="email"), "cannot send email"),
    ]
    for message, reason in cases:
        error = await refused(provider, message)
        assert error.permanent and reason in str(error), (message, error)
    assert provider_server.requests == []
    # The body field stands in for text (templates may fill either).
    await provider.send(Outgoing(channel="sms", to=PHONE, body="from body"))
    assert provider_server.of("twilio")[0].form["Body"] == "from body"


# --- Twilio: callbacks, signatures, parsing -------------------------------------------


async def test_status_callbacks_are_signed_and_parse_to_delivery_statuses(
    provider_server: ProviderServer,
):
    config = provider_server.twilio_config()
    provider_server.twilio_callbacks = ("queued", "sent", "delivered")
    provider_server.status_tokens["app"] = config["auth_token"]
    url = provider_server.status_url("app")
    sent = await registry.build("whatsapp", config).send(sms("whatsapp", status_callback=url))
    await provider_server.settle()

    callbacks = provider_server.of("status")
    assert [c.answered for c in callbacks] == [200, 200, 200]
    updates = []
    for callback in callbacks:
        assert callback.signature_ok  # the receiving side's own check
        assert twilio.verify_signature(
            config["auth_token"],
            callback.url,
            callback.form,
            callback.headers["x-twilio-signature"],
        )
        updates.append(twilio.parse_status(callback.form))
    assert [(u.provider_message_id, u.status, u.error) for u in updates] == [
        (sent.provider_message_id, "sent", None),
        (sent.provider_message_id, "sent", None),
        (sent.provider_message_id, "delivered", None),
    ]


async def test_a_callback_signed_with_another_token_is_refused(provider_server: ProviderServer):
    provider_server.status_tokens["app"] = "the-real-token"
    url = provider_server.status_url("app")
    form = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}
    forged = await post_status(url, form, "a-guessed-token")
    assert forged.status_code == 403
    genuine = await post_status(url, form, "the-real-token")
    assert genuine.status_code == 200
    bad, good = provider_server.of("status")
    header = "x-twilio-signature"
    assert not twilio.verify_signature("the-real-token", bad.url, bad.form, bad.headers[header])
    assert twilio.verify_signature("the-real-token", good.url, good.form, good.headers[header])


DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


def test_twilio_signature_known_answers():
    # The example of Twilio's request-validation docs and of its helper libraries' tests.
    assert twilio.signature("12345", DOCS_URL, DOCS_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    newer = {**DOCS_PARAMS, "Caller": "+14158675310", "From": "+14158675310"}
    assert twilio.signature("12345", DOCS_URL, newer) == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    # Repeated names: the values are sorted too (twilio-python's duplicate-key vector).
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert twilio.signature("12345", DOCS_URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    form = FormData(repeated)
    assert twilio.signature("12345", DOCS_URL, form) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert twilio.verify_signature("12345", DOCS_URL, DOCS_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    # Twilio may sign with or without the default port; proxies differ: both verify.
    with_port = "kvajT1Ptam85bY51eRf/AJRuM3w="  # the same request signed with :443
    assert twilio.verify_signature("12345", DOCS_URL, DOCS_PARAMS, with_port)
    other_port = DOCS_URL.replace(".com", ".com:1234")
    assert twilio.verify_signature("12345", other_port, DOCS_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    http_url = DOCS_URL.replace("https", "http")
    assert twilio.verify_signature("12345", http_url, DOCS_PARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4=")


def test_twilio_signature_rejects_tampering():
    good = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert not twilio.verify_signature("12345", DOCS_URL, {**DOCS_PARAMS, "Digits": "9999"}, good)
    assert not twilio.verify_signature("12345", DOCS_URL, {**DOCS_PARAMS, "Extra": ""}, good)
    assert not twilio.verify_signature("54321", DOCS_URL, DOCS_PARAMS, good)
    assert not twilio.verify_signature("12345", DOCS_URL + "&x=1", DOCS_PARAMS, good)
    assert not twilio.verify_signature("12345", DOCS_URL, DOCS_PARAMS, good.lower())
    for header in (None, "", "é" * 28):
        assert not twilio.verify_signature("12345", DOCS_URL, DOCS_PARAMS, header)
    assert not twilio.verify_signature("", DOCS_URL, DOCS_PARAMS, good)
    assert not twilio.verify_signature("12345", "https://bad:port/x", DOCS_PARAMS, good)


def test_parse_status_maps_twilio_statuses():
    sid = "SM" + "0123456789abcdef" * 2
    expected = {
        "queued": "sent",
        "sending": "sent",
        "sent": "sent",
        "delivered": "delivered",
        "undelivered": "bounced",
        "failed": "failed",
        "read": "read",
    }
    for raw, status in expected.items():
        update = twilio.parse_status({"MessageSid": sid, "MessageStatus": raw})
        assert (update.provider_message_id, update.status) == (sid, status)
    failed = twilio.parse_status(
        {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    )
    assert failed.status == "bounced" and failed.error == "error 30003"
    described = twilio.parse_status(
        {"SmsSid": sid, "SmsStatus": "failed", "ErrorCode": "30007", "ErrorMessage": "Filtered"}
    )
    assert described.error == "error 30007: Filtered"
    assert twilio.parse_status({"SmsSid": sid, "SmsStatus": "failed"}).error == "failed"


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({}, "MessageSid is missing"),
        ({"MessageStatus": "delivered"}, "MessageSid is missing"),
        ({"MessageSid": "SM1234567", "MessageStatus": ""}, "MessageStatus is missing"),
        ({"MessageSid": "SM1234567"}, "MessageStatus is missing"),
        ({"MessageSid": "SM1234567", "MessageStatus": "exploded"}, "not a known status"),
        ({"MessageSid": "SM1234567", "MessageStatus": "received"}, "inbound message"),
        ({"MessageSid": "../../etc/passwd", "MessageStatus": "sent"}, "not a message id"),
        ({"MessageSid": "SM'; drop", "MessageStatus": "sent"}, "not a message id"),
        ({"MessageSid": "S" * 500, "MessageStatus": "sent"}, "longer than"),
        ({"MessageSid": ["SM1234567"], "MessageStatus": "sent"}, "plain form field"),
        ({"MessageSid": "SM1234567", "MessageStatus": {"$ne": 1}}, "plain form field"),
    ],
)
def test_parse_status_refuses_malformed_forms(form, problem):
    with pytest.raises(ValueError, match=problem):
        twilio.parse_status(form)


def test_parse_status_refuses_an_uploaded_file_in_a_multipart_form():
    upload = UploadFile(file=None, filename="x.txt")  # type: ignore[arg-type]
    form = FormData([("MessageSid", "SM1234567"), ("MessageStatus", upload)])
    with pytest.raises(ValueError, match="MessageStatus must be a plain form field"):
        twilio.parse_status(form)


def test_parse_inbound_reads_the_channel_from_the_prefix():
    sid = "SM" + "f" * 32
    reply = twilio.parse_inbound(
        {
            "From": f"whatsapp:{PHONE}",
            "To": "whatsapp:+15005550006",
            "Body": "STOP",
            "MessageSid": sid,
        }
    )
    assert reply == twilio.Inbound(PHONE, "+15005550006", "STOP", "whatsapp", sid)
    plain = twilio.parse_inbound(FormData([("From", PHONE), ("To", "+15005550006"), ("Body", "")]))
    assert (plain.channel, plain.body, plain.provider_message_id) == ("sms", "", "")
    rcs = twilio.parse_inbound({"From": f"rcs:{PHONE}", "To": "rcs:brand_agent", "Body": "ok"})
    assert (rcs.channel, rcs.from_, rcs.to) == ("rcs", PHONE, "brand_agent")


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"To": "+15005550006", "Body": "x"}, "From is missing"),
        ({"From": PHONE, "Body": "x"}, "To is missing"),
        ({"From": "not a phone", "To": "+15005550006"}, "E.164"),
        ({"From": "whatsapp:", "To": "whatsapp:+15005550006"}, "E.164"),
        ({"From": f"whatsapp:{PHONE}", "To": "+15005550006"}, "different channels"),
        ({"From": PHONE, "To": "+15005550006", "Body": "x" * 5001}, "longer than"),
        ({"From": PHONE, "To": "+15005550006", "Body": ["a", "b"]}, "plain form field"),
        ({"From": PHONE, "To": "+15005550006", "MessageSid": "<script>"}, "not a message id"),
    ],
)
def test_parse_inbound_refuses_malformed_forms(form, problem):
    with pytest.raises(ValueError, match=problem):
        twilio.parse_inbound(form)


# --- FCM ------------------------------------------------------------------------------


def push(to: str = "device-token-1", **fields) -> Outgoing:
    fields = {"title": "Sale", "body": "20% off today", **fields}
    return Outgoing(channel="push", to=to, **fields)


async def test_fcm_sends_notification_and_string_data_with_bearer_token(
    provider_server: ProviderServer,
):
    config = provider_server.fcm_config(project_id="brand-app")
    provider = registry.build("push", config)
    assert isinstance(provider, FcmPush)
    sent = await provider.send(
        push(url="https://brand.example/sale", data={"campaign": "c1", "n": 3, "tags": ["a"]})
    )
    assert sent.provider == "fcm"
    assert sent.provider_message_id.startswith("projects/brand-app/messages/")
    (record,) = provider_server.of("fcm")
    assert record.url.endswith("/v1/projects/brand-app/messages:send")
    assert record.headers["authorization"] == f"Bearer {config['access_token']}"
    assert record.json == {
        "message": {
            "token": "device-token-1",
            "notification": {"title": "Sale", "body": "20% off today"},
            "data": {
                "campaign": "c1",
                "n": "3",
                "tags": '["a"]',
                "url": "https://brand.example/sale",
            },
        }
    }


async def test_fcm_gone_tokens_are_permanent_and_overload_is_retryable(
    provider_server: ProviderServer,
):
    config = provider_server.fcm_config()
    provider = registry.build("push", config)
    provider_server.fcm_unregistered.add("old-token")
    error = await refused(provider, push(to="old-token"))
    assert error.permanent and error.code == "UNREGISTERED"

    # A 400 that says UNREGISTERED is the token going away too.
    provider_server.fail_next(1, 400, body=fcm_error(400, "UNREGISTERED"))
    error = await refused(provider, push())
    assert error.permanent and error.code == "UNREGISTERED"
    provider_server.fail_next(1, 400)
    error = await refused(provider, push())
    assert error.permanent and error.code == "INVALID_ARGUMENT"
    provider_server.fail_next(1, 404, body="<html>not here</html>")  # not even JSON
    error = await refused(provider, push())
    assert error.permanent and "not here" in str(error)

    provider_server.fail_next(1, 429, retry_after="30")
    error = await refused(provider, push())
    assert not error.permanent and error.retry_after == 30 and error.code == "QUOTA_EXCEEDED"
    provider_server.fail_next(1, 503, retry_after="5")
    error = await refused(provider, push())
    assert not error.permanent and error.retry_after == 5 and error.code == "UNAVAILABLE"
    provider_server.fail_next(1, 500)
    assert not (await refused(provider, push())).permanent

    expired = registry.build("push", {**config, "access_token": "ya29.expired"})
    error = await refused(expired, push())
    assert error.permanent and error.code == "THIRD_PARTY_AUTH_ERROR"
    assert await provider.send(push())


async def test_fcm_refuses_what_it_cannot_send_without_calling(provider_server: ProviderServer):
    provider = registry.build("push", provider_server.fcm_config())
    cases = [
        (push(data={"from": "x"}), "reserved"),
        (push(data={"google.c.a": "x"}), "reserved"),
        (push(data={"gcm_x": "x"}), "reserved"),
        (push(data={"": "x"}), "non-empty"),
        (push(to=""), "device token"),
        (Outgoing(channel="push", to={"token": "x"}, title="t"), "device token"),
        (push(title="", body=""), "neither title nor body"),
        (push(body="x" * 5000), "4 KB"),
    ]
    for message, reason in cases:
        error = await refused(provider, message)
        assert error.permanent and reason in str(error), (message, error)
    assert provider_server.requests == []


# --- Web push -------------------------------------------------------------------------


def vapid_config(**changes) -> dict:
    return {
        "provider": "vapid",
        **webpush.generate_vapid_keys(),
        "subject": "mailto:ops@brand.example",
        **changes,
    }


def web(subscription: dict, **fields) -> Outgoing:
    fields = {"title": "Back in stock", "body": "Your size is back", **fields}
    return Outgoing(channel="web_push", to=subscription, **fields)


async def test_web_push_is_encrypted_for_the_browser_and_vapid_signed(
    provider_server: ProviderServer,
):
    config = vapid_config()
    provider = registry.build("web_push", config)
    assert isinstance(provider, VapidPush)
    subscription = provider_server.new_subscription(config["vapid_public_key"])
    sent = await provider.send(
        web(subscription, url="https://brand.example/p/1", data={"sku": "A1", "qty": 2})
    )
    (record,) = provider_server.of("webpush")
    assert record.answered == 201
    assert sent.provider == "vapid" and sent.provider_message_id.startswith(provider_server.url)
    # Decrypted by the receiving side with the subscription's private key.
    assert json.loads(record.plaintext) == {
        "title": "Back in stock",
        "body": "Your size is back",
        "url": "https://brand.example/p/1",
        "data": {"sku": "A1", "qty": 2},
    }
    assert b"Back in stock" not in record.body
    assert record.vapid_claims["sub"] == "mailto:ops@brand.example"
    assert record.vapid_claims["aud"] == provider_server.url
    assert record.vapid_claims["exp"] > time.time() + 3600
    assert record.headers["content-encoding"] == "aes128gcm"
    assert int(record.headers["ttl"]) > 0


async def test_web_push_expired_subscriptions_are_permanent(provider_server: ProviderServer):
    provider = registry.build("web_push", vapid_config())
    subscription = provider_server.new_subscription()
    provider_server.expire(subscription)
    error = await refused(provider, web(subscription))
    assert error.permanent and error.code == "GONE" and "410" in str(error)

    live = provider_server.new_subscription()
    provider_server.fail_next(1, 404)
    error = await refused(provider, web(live))
    assert error.permanent and error.code == "GONE"
    provider_server.fail_next(1, 429, retry_after="12")
    error = await refused(provider, web(live))
    assert not error.permanent and error.retry_after == 12
    provider_server.fail_next(1, 502)
    assert not (await refused(provider, web(live))).permanent
    provider_server.fail_next(1, 413)
    assert (await refused(provider, web(live))).permanent
    assert await provider.send(web(live))


async def test_web_push_signed_with_another_vapid_key_is_refused(provider_server: ProviderServer):
    subscription = provider_server.new_subscription(vapid_config()["vapid_public_key"])
    error = await refused(registry.build("web_push", vapid_config()), web(subscription))
    assert error.permanent and "403" in str(error)


async def test_web_push_refuses_bad_subscriptions_without_calling(
    provider_server: ProviderServer,
):
    provider = registry.build("web_push", vapid_config())
    good = provider_server.new_subscription()
    cases = [
        ("not a subscription", "needs a subscription"),
        ({"keys": good["keys"]}, "endpoint is required"),
        ({**good, "endpoint": "http://169.254.169.254/latest"}, "https"),
        ({**good, "endpoint": "file:///etc/passwd"}, "https"),
        ({"endpoint": good["endpoint"]}, "p256dh/auth"),
        ({**good, "keys": {"p256dh": "AAAA", "auth": good["keys"]["auth"]}}, "keys are invalid"),
        ({**good, "keys": {"p256dh": "!!!", "auth": "???"}}, "keys are invalid"),
    ]
    for subscription, reason in cases:
        error = await refused(provider, web(subscription))
        assert error.permanent and reason in str(error), (subscription, error)
    error = await refused(provider, web(good, body="x" * 4000))
    assert error.permanent and "at most" in str(error)
    assert provider_server.requests == []


# --- Webhook --------------------------------------------------------------------------


def hook(**fields) -> Outgoing:
    fields = {
        "title": "Order shipped",
        "data": {"order": 42},
        "idempotency_key": "c1:v0:k9",
        **fields,
    }
    return Outgoing(channel="webhook", to="contact-1", **fields)


async def test_webhook_posts_signed_json_the_receiver_verifies(provider_server: ProviderServer):
    config = provider_server.webhook_config("crm")
    provider = registry.build("webhook", config)
    assert isinstance(provider, WebhookPost)
    sent = await provider.send(hook(headers={"X-Partner-Account": "acme"}))
    assert sent.provider == "webhook"
    (record,) = provider_server.of("webhook")
    assert record.answered == 200 and record.signature_ok
    assert record.headers["content-type"] == "application/json"
    assert record.headers["idempotency-key"] == "c1:v0:k9"
    assert record.headers["x-partner-account"] == "acme"
    assert record.json == {
        "id": "c1:v0:k9",
        "channel": "webhook",
        "to": "contact-1",
        "title": "Order shipped",
        "text": "",
        "url": "",
        "data": {"order": 42},
    }
    stamp, signature = record.headers["x-reach-timestamp"], record.headers["x-reach-signature"]
    assert abs(int(stamp) - time.time()) < 60
    assert webhook.verify(config["secret"], stamp, record.body, signature)

    # A rendered body is sent as it is (it must be JSON).
    await provider.send(hook(body='{"event": "shipped", "order": 42}'))
    assert provider_server.of("webhook")[1].body == b'{"event": "shipped", "order": 42}'
    assert provider_server.of("webhook")[1].signature_ok


async def test_webhook_status_mapping_and_no_redirects(provider_server: ProviderServer):
    config = provider_server.webhook_config()
    provider = registry.build("webhook", config)
    for status, permanent in ((400, True), (404, True), (410, True), (408, False), (500, False)):
        provider_server.fail_next(1, status)
        error = await refused(provider, hook())
        assert error.permanent is permanent, status
    provider_server.fail_next(1, 429, retry_after="3")
    error = await refused(provider, hook())
    assert not error.permanent and error.retry_after == 3

    # A partner secret that does not match is refused by the receiver: permanent.
    wrong = registry.build("webhook", {**config, "secret": "another-secret-of-some-length"})
    assert (await refused(wrong, hook())).permanent

    redirecting = registry.build(
        "webhook", {**config, "url": f"{provider_server.url}/redirect/default"}
    )
    error = await refused(redirecting, hook())
    assert error.permanent and "redirect" in str(error) and "not followed" in str(error)
    assert len(provider_server.of("redirect")) == 1
    assert [r.answered for r in provider_server.of("webhook")] == [
        400,
        404,
        410,
        408,
        500,
        429,
        401,
    ]

    down = registry.build("webhook", {**config, "url": f"http://127.0.0.1:{free_port()}/x"})
    assert not (await refused(down, hook())).permanent


async def test_webhook_refuses_bad_bodies_and_headers_without_calling(
    provider_server: ProviderServer,
):
    provider = registry.build("webhook", provider_server.webhook_config())
    cases = [
        (hook(body="{not json"), "not JSON"),
        (hook(body='"' + "x" * 300_000 + '"'), "over"),
        (hook(headers={"X-Reach-Signature": "sha256=forged"}), "cannot be set"),
        (hook(headers={"Idempotency-Key": "other"}), "cannot be set"),
        (hook(headers={"X-Evil": "a\r\nX-Injected: 1"}), "invalid value"),
        (hook(headers={"Bad Name": "x"}), "cannot be set"),
        (hook(headers={"X-Name": "café"}), "invalid value"),
    ]
    for message, reason in cases:
        error = await refused(provider, message)
        assert error.permanent and reason in str(error), (message, error)
    assert provider_server.requests == []


def test_webhook_verify_rejects_tampering_and_stale_timestamps():
    secret, body = "partner-shared-secret", b'{"order": 42}'
    now = 1_900_000_000
    good = webhook.sign(secret, now, body)
    assert good.startswith("sha256=") and len(good) == 7 + 64
    assert webhook.verify(secret, str(now), body, good, now=now)
    assert webhook.verify(secret, now, body.decode(), good, now=now + 299)
    assert not webhook.verify(secret, now, b'{"order": 43}', good, now=now)
    assert not webhook.verify("another-secret", now, body, good, now=now)
    assert not webhook.verify(secret, now + 1, body, good, now=now)  # the stamp is signed
    assert not webhook.verify(secret, now, body, good, now=now + 301)  # stale: a replay
    assert not webhook.verify(secret, now, body, good, now=now - 301)  # from the future
    assert webhook.verify(secret, now, body, good, tolerance=3600, now=now + 3000)
    for stamp in ("", "-1", "1e9", " 1900000000", "\uff11\uff19", None, "9" * 40):
        assert not webhook.verify(secret, stamp, body, good, now=now), stamp
    for signature in ("", None, good.upper(), good[:-1], "sha1=" + good[7:]):
        assert not webhook.verify(secret, now, body, signature, now=now), signature


# --- Email over SMTP (aiosmtpd) -------------------------------------------------------


class Mailbox:
    """aiosmtpd handler: keeps messages; refuses recipients by local part (550/450)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.raw: list[bytes] = []  # as received, before any re-generation
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return "550 5.1.1 No such user"
        if address.startswith("busy@"):
            return "450 4.2.1 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.raw.append(envelope.content)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login, auth_data.password))
            if auth_data.password == b"s3cret pass":
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=box.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    box.url = f"smtp://mailer:s3cret%20pass@127.0.0.1:{controller.port}"
    yield box
    controller.stop()


def mail(**fields) -> Outgoing:
    fields = {
        "to": "ann@example.com",
        "subject": "Your weekly picks",
        "text": "Hello Ann",
        "html": "<p>Hello <b>Ann</b></p>",
        **fields,
    }
    return Outgoing(channel="email", **fields)


async def test_smtp_sends_html_with_text_alternative_and_one_click_unsubscribe(mailbox):
    config = {"provider": "smtp", "url": mailbox.url, "from": "Brand <news@brand.example>"}
    provider = registry.build("email", config)
    assert isinstance(provider, SmtpEmail)
    unsubscribe = "<https://app.example/u/abc>, <mailto:unsub@brand.example?subject=abc>"
    sent = await provider.send(mail(headers={"List-Unsubscribe": unsubscribe, "X-Campaign": "c1"}))
    assert mailbox.logins == [(b"mailer", b"s3cret pass")]
    (received,) = mailbox.messages
    assert sent.provider == "smtp" and sent.provider_message_id == received["Message-ID"]
    assert received["Message-ID"].endswith("@brand.example>")
    assert received["From"] == "Brand <news@brand.example>" and received["To"] == "ann@example.com"
    assert received["List-Unsubscribe"].strip() == unsubscribe  # long headers are folded
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["X-Campaign"] == "c1"
    assert received.get_content_type() == "multipart/alternative"
    assert received.get_body(("plain",)).get_content().strip() == "Hello Ann"
    assert received.get_body(("html",)).get_content().strip() == "<p>Hello <b>Ann</b></p>"

    # A mailto-only List-Unsubscribe cannot be one-click (RFC 8058 needs https); a sender
    # on the message wins over the configured one; text alone is a single part.
    await provider.send(
        mail(
            html="",
            sender="Ops <ops@brand.example>",
            headers={"List-Unsubscribe": "<mailto:u@brand.example>"},
        )
    )
    second = mailbox.messages[1]
    assert "List-Unsubscribe-Post" not in second and second["From"] == "Ops <ops@brand.example>"
    assert second.get_content_type() == "text/plain"


async def test_smtp_reuses_its_sessions_and_drops_a_failed_one(mailbox):
    """Connect and AUTH once for many messages (channels.smtp_pool); a session that saw
    an error is closed, and the next message opens a fresh one."""
    config = {"provider": "smtp", "url": mailbox.url, "from": "news@brand.example"}
    provider = registry.build("email", config)
    for n in range(3):
        await provider.send(mail(to=f"reader{n}@example.com"))
    assert len(mailbox.messages) == 3 and len(mailbox.logins) == 1
    error = await refused(provider, mail(to="gone@example.com"))
    assert error.permanent
    await provider.send(mail(to="after@example.com"))
    assert len(mailbox.messages) == 4 and len(mailbox.logins) == 2  # a new session


async def test_smtp_keeps_long_unsubscribe_urls_literal_and_bodies_7bit(mailbox):
    provider = registry.build(
        "email", {"provider": "smtp", "url": mailbox.url, "from": "news@brand.example"}
    )
    # A signed unsubscribe link is one long token: folding at 78 columns would turn it into
    # RFC 2047 encoded-words, which mail clients do not decode in List-Unsubscribe.
    link = "https://app.example/t/u/." + "eJyLVjJLMjA1SUsyS05MM0y0NE4zSjE0" * 5
    long_line = "Grüße aus Köln, " * 20  # non-ASCII and longer than 78 columns
    await provider.send(
        mail(text=long_line, html=f"<p>{long_line}</p>", headers={"List-Unsubscribe": f"<{link}>"})
    )
    (received,), (raw,) = mailbox.messages, mailbox.raw
    assert b"=?utf-8?" not in raw.split(b"\r\n\r\n", 1)[0]
    assert received["List-Unsubscribe"] == f"<{link}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert all(len(line) <= 998 for line in raw.splitlines())
    for part in received.iter_parts():
        assert part["Content-Transfer-Encoding"] in ("base64", "quoted-printable")
        encoded = part.get_payload(decode=False)
        assert encoded.isascii() and all(len(line) <= 76 for line in encoded.splitlines())
    assert received.get_body(("plain",)).get_content().strip() == long_line.strip()
    error = await refused(provider, mail(headers={"X-Long": "x" * 901}))
    assert error.permanent and "too long" in str(error)


async def test_smtp_refusals_and_outages(mailbox):
    config = {"provider": "smtp", "url": mailbox.url, "from": "news@brand.example"}
    provider = registry.build("email", config)
    error = await refused(provider, mail(to="gone@example.com"))
    assert error.permanent and error.code == "550"
    error = await refused(provider, mail(to="busy@example.com"))  # greylisting and the like
    assert not error.permanent and error.code == "450"
    wrong = registry.build("email", {**config, "url": mailbox.url.replace("s3cret%20pass", "nope")})
    error = await refused(wrong, mail())
    assert error.permanent and error.code == "535"
    down = registry.build("email", {**config, "url": f"smtp://127.0.0.1:{free_port()}"})
    error = await refused(down, mail())
    assert not error.permanent and "SMTP delivery failed" in str(error)
    assert mailbox.messages == []


async def test_smtp_refuses_header_injection_and_bad_addresses(mailbox):
    provider = registry.build(
        "email", {"provider": "smtp", "url": mailbox.url, "from": "news@brand.example"}
    )
    cases = [
        (mail(subject="Hi\r\nBcc: everyone@example.com"), "invalid email header"),
        (mail(headers={"X-Note": "a\nBcc: x@example.com"}), "invalid email header"),
        (mail(headers={"Bcc": "x@example.com"}), "cannot be set"),
        (mail(headers={"List-Unsubscribe-Post": "x"}), "cannot be set"),
        (mail(headers={"Bad Header:": "x"}), "cannot be set"),
        (mail(to="ann@example.com, bob@example.com"), "not one email address"),
        (mail(to="ann@example.com\r\nBcc: x@example.com"), "not one email address"),
        (mail(to="not-an-address"), "not one email address"),
        (mail(to={"endpoint": "x"}), "not one email address"),
        (mail(sender="nobody"), "not one email address"),
        (mail(text="", html=""), "neither text nor html"),
    ]
    for message, reason in cases:
        error = await refused(provider, message)
        assert error.permanent and reason in str(error), (message, error)
    assert mailbox.messages == [] and mailbox.logins == []


# --- Sandbox, inbox, registry ---------------------------------------------------------


async def test_sandbox_and_inbox_accept_every_message_without_sending():
    ids = set()
    for channel in registry.CHANNELS:
        provider = registry.build(channel, {"provider": "sandbox"})
        sent = await provider.send(Outgoing(channel=channel, to="anyone", text="x"))
        assert sent.provider == "sandbox" and sent.provider_message_id.startswith("sandbox-")
        ids.add(sent.provider_message_id)
    assert len(ids) == len(registry.CHANNELS)
    inbox = registry.build("in_app", {"provider": "inbox"})
    sent = await inbox.send(Outgoing(channel="in_app", to="contact-1", title="Hi", body="x"))
    assert sent.provider == "inbox" and sent.provider_message_id.startswith("inbox-")
    assert isinstance(sandbox.from_config({"provider": "sandbox"}), sandbox.Sandbox)


def test_registry_names_every_channel_of_the_agreed_interface():
    assert set(registry.CHANNELS) == {
        "email",
        "sms",
        "whatsapp",
        "rcs",
        "push",
        "web_push",
        "in_app",
        "webhook",
    }
    assert set(registry.PROVIDERS_BY_CHANNEL) == set(registry.CHANNELS)
    for channel, providers in registry.PROVIDERS_BY_CHANNEL.items():
        assert "sandbox" in providers, channel
        for provider in providers:
            assert provider in registry.PROVIDER_MODULES and provider in registry.SECRET_FIELDS


@pytest.mark.parametrize(
    ("channel", "config", "problems"),
    [
        ("fax", {"provider": "sandbox"}, ["channel 'fax' is not one of email, sms"]),
        ("sms", "twilio", ["must be an object"]),
        ("sms", {}, ["provider is required (one of twilio, sandbox)"]),
        ("sms", {"provider": 5}, ["provider is required"]),
        ("email", {"provider": "twilio"}, ["cannot send email (use smtp or sandbox)"]),
        ("sandbox", {"provider": "sandbox"}, ["not one of"]),
        ("sms", {"provider": "sandbox", "url": "x"}, ["unknown field(s) url"]),
        (
            "sms",
            {"provider": "twilio", "acount_sid": "AC1"},
            [
                "unknown field(s) acount_sid",
                "account_sid is required",
                "auth_token is required",
                "from is required",
            ],
        ),
        (
            "whatsapp",
            {"provider": "twilio", "account_sid": "AC/../x", "auth_token": 5, "from": "+1 415 555"},
            [
                "account_sid must be letters and digits",
                "auth_token must be text",
                "from must be an E.164",
            ],
        ),
        (
            "sms",
            {
                "provider": "twilio",
                "base_url": "http://api.example.com",
                "account_sid": "AC1",
                "auth_token": "t",
                "from": "+15005550006",
            },
            ["base_url must use https://"],
        ),
        (
            "rcs",
            {
                "provider": "twilio",
                "base_url": "https://user:pw@api.example.com",
                "account_sid": "AC1",
                "auth_token": "t",
                "from": "Brand",
            },
            ["base_url must not contain credentials"],
        ),
        (
            "push",
            {"provider": "fcm", "project_id": "My Project", "access_token": "t"},
            ["project_id must be lowercase"],
        ),
        (
            "push",
            {"provider": "fcm", "project_id": "p" * 70, "access_token": " t"},
            ["project_id is longer", "surrounding spaces"],
        ),
        (
            "email",
            {"provider": "smtp", "url": "http://mail.example.com", "from": "a@b.co"},
            ["url must look like smtp://"],
        ),
        (
            "email",
            {"provider": "smtp", "url": "smtp://h:99999", "from": "a@b.co"},
            ["invalid port"],
        ),
        (
            "email",
            {"provider": "smtp", "url": "smtp://h", "from": "a@b.co, c@d.co"},
            ["from must be one address"],
        ),
        (
            "email",
            {"provider": "smtp", "url": "smtp://h", "from": "x\r\nBcc: y@z.co"},
            ["line breaks"],
        ),
        (
            "webhook",
            {"provider": "webhook", "url": "ftp://x", "secret": "short"},
            ["url must be an https://", "secret must be at least 16"],
        ),
        (
            "webhook",
            {"provider": "webhook", "url": "https://x.example/" + "a" * 3000, "secret": "s" * 20},
            ["url is longer than 2048"],
        ),
        (
            "web_push",
            {
                "provider": "vapid",
                "vapid_private_key": "garbage",
                "vapid_public_key": "x",
                "subject": "ops",
            },
            ["subject must be a mailto:", "not a VAPID private key"],
        ),
    ],
)
def test_registry_validate_explains_bad_configs(channel, config, problems):
    found = registry.validate(channel, config)
    assert len(found) == len(problems), found
    for problem, expected in zip(found, problems, strict=True):
        assert expected in problem, (problem, expected)
    with pytest.raises(ValueError, match="configuration"):
        registry.build(channel, config)


def test_vapid_keys_must_belong_together():
    config = vapid_config()
    assert registry.validate("web_push", config) == []
    other = webpush.generate_vapid_keys()["vapid_public_key"]
    assert registry.validate("web_push", {**config, "vapid_public_key": other}) == [
        "vapid_public_key does not belong to vapid_private_key"
    ]
    assert registry.validate("web_push", {**config, "subject": "https://brand.example"}) == []


def test_secret_fields_name_what_must_be_encrypted():
    assert registry.secret_fields({"provider": "twilio", "auth_token": "t", "from": "x"}) == (
        "auth_token",
    )
    assert registry.secret_fields({"provider": "fcm", "access_token": "t"}) == ("access_token",)
    assert registry.secret_fields(vapid_config()) == ("vapid_private_key",)
    assert registry.secret_fields({"provider": "webhook", "secret": "s"}) == ("secret",)
    assert registry.secret_fields({"provider": "smtp", "url": "smtp://u:p@h:25"}) == ("url",)
    assert registry.secret_fields({"provider": "smtp", "url": "smtp://h:25"}) == ()
    assert registry.secret_fields({"provider": "smtp", "url": "smtp://u@h:99999"}) == ()
    assert registry.secret_fields({"provider": "sandbox"}) == ()
    assert registry.secret_fields({"provider": "nope"}) == ()


async def test_one_shared_client_per_loop_that_never_follows_redirects():
    shared = transport.client()
    assert transport.client() is shared
    assert shared.follow_redirects is False
    assert shared.timeout.connect == 5.0 and shared.timeout.read == 10.0
    assert isinstance(shared, httpx.AsyncClient)


def test_transport_errors_retry_only_when_the_request_never_left():
    from channels import transport

    request = httpx.Request("POST", "https://api.example.test/")
    refused = transport.transport_error("twilio", httpx.ConnectError("refused", request=request))
    assert not refused.permanent
    lost = transport.transport_error("twilio", httpx.ReadTimeout("slow", request=request))
    assert lost.permanent and lost.code == "OUTCOME_UNKNOWN"
    deduplicated = transport.transport_error(
        "webhook", httpx.ReadTimeout("slow", request=request), idempotent=True
    )
    assert not deduplicated.permanent


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://db.internal/hook",
    ],
)
def test_production_refuses_private_hosts(url, monkeypatch):
    from channels import transport

    assert transport.url_problem("https://hooks.example.com/x", "url") is None
    monkeypatch.setattr(transport, "allow_private_hosts", False)
    assert transport.url_problem(url, "url") == "url must name a public host"
    assert transport.url_problem("https://hooks.example.com/x", "url") is None
