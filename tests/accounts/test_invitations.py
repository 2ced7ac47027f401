"""Inviting users: the worker emails the link once (sandbox or real SMTP), accepting joins."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest

from documents.message import OutboundMessage
from resolvers.accounts import users
from resolvers.core import runtime
from tests.conftest import free_port
from tests.helpers import eventually, gid, new_tenant, raw, unique_email
from tests.smtp_server import smtp_server

INVITE = """mutation($email: String!, $role: Role!) {
  inviteUser(email: $email, role: $role) {
    invitation { id email role deliveredAt } inviteUrl userErrors { field message code }
  }
}"""


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def _delivered(invitation_id: str):
    async def probe():
        return await OutboundMessage.find_one(
            {"idempotency_key": f"invitation:{invitation_id}", "status": "sent"}
        )

    return await eventually(probe)


async def test_invite_deliver_accept_and_login(api, services):
    tenant = await new_tenant()
    address = unique_email("invitee")
    data = await api.gql(tenant.secret_key, INVITE, {"email": address.upper(), "role": "MARKETER"})
    payload = data["inviteUser"]
    assert payload["userErrors"] == []
    assert payload["invitation"]["email"] == address
    sent = await _delivered(raw(payload["invitation"]["id"]))
    assert sent.provider == "sandbox" and sent.to == address
    assert payload["inviteUrl"] in sent.text

    token = _token(payload["inviteUrl"])
    short = await api.http.post(
        "/auth/accept-invitation", json={"token": token, "password": "short", "name": "New"}
    )
    assert short.status_code == 400 and short.json()["error"]["field"] == "password"
    accepted = await api.http.post(
        "/auth/accept-invitation",
        json={"token": token, "password": "a long new password", "name": "New Person"},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == "marketer"
    again = await api.http.post(
        "/auth/accept-invitation", json={"token": token, "password": "a long new password"}
    )
    assert again.status_code == 404

    session = await api.login(address, "a long new password")
    viewer = await api.gql(session, "{ viewer { role workspaceId } }")
    assert viewer["viewer"] == {
        "role": "MARKETER",
        "workspaceId": gid("Workspace", tenant.workspace_id),
    }
    listed = await api.gql(tenant.secret_key, "{ members { edges { node { email role } } } }")
    assert {"email": address, "role": "MARKETER"} in [e["node"] for e in listed["members"]["edges"]]
    duplicate = await api.gql(tenant.secret_key, INVITE, {"email": address, "role": "VIEWER"})
    assert duplicate["inviteUser"]["userErrors"][0]["code"] == "CONFLICT"


async def test_bad_invitations_are_rejected(api, services):
    tenant = await new_tenant()
    data = await api.gql(tenant.secret_key, INVITE, {"email": "not-an-email", "role": "VIEWER"})
    assert data["inviteUser"]["userErrors"][0]["field"] == "email"
    errors = await api.errors(tenant.secret_key, INVITE, {"email": "a@b.co", "role": "GOD"})
    assert "GOD" in errors[0]["message"]
    for body in ({"token": "rk_invite_forged", "password": "long enough pass"}, {"token": 5}):
        response = await api.http.post("/auth/accept-invitation", json=body)
        assert response.status_code in (400, 404)
        assert response.json()["error"]["message"]


@pytest.fixture
def smtp_inbox():
    with smtp_server() as (inbox, url):
        rt = runtime.get()
        previous, rt.smtp_url = rt.smtp_url, url
        yield inbox
        rt.smtp_url = previous


async def test_invitation_goes_out_over_real_smtp_exactly_once(api, services, smtp_inbox):
    tenant = await new_tenant()
    address = unique_email("smtp")
    data = await api.gql(tenant.secret_key, INVITE, {"email": address, "role": "VIEWER"})
    invitation_id = raw(data["inviteUser"]["invitation"]["id"])
    sent = await _delivered(invitation_id)
    assert sent.provider == "smtp"
    assert len(smtp_inbox.messages) == 1
    message = smtp_inbox.messages[0]
    assert message["To"] == address and "invited" in message["Subject"]
    assert data["inviteUser"]["inviteUrl"] in message.get_payload(decode=True).decode()
    # A retried job (at-least-once delivery) must not send the email again.
    await users.deliver_invitation(invitation_id)
    await asyncio.sleep(0.2)
    assert len(smtp_inbox.messages) == 1


async def test_smtp_outage_is_retried_and_recorded(api, services):
    tenant = await new_tenant()
    rt = runtime.get()
    previous, rt.smtp_url = rt.smtp_url, f"smtp://127.0.0.1:{free_port()}"  # nobody listens
    try:
        data = await api.gql(tenant.secret_key, INVITE, {"email": unique_email(), "role": "VIEWER"})
        key = f"invitation:{raw(data['inviteUser']['invitation']['id'])}"

        async def failed():
            return await OutboundMessage.find_one({"idempotency_key": key, "status": "failed"})

        record = await eventually(failed)
        assert "SMTP delivery failed" in record.error
    finally:
        rt.smtp_url = previous
    # Once SMTP is back (sandbox here), Dramatiq's retry delivers it.
    sent = await eventually(
        lambda: OutboundMessage.find_one({"idempotency_key": key, "status": "sent"}), timeout=30
    )
    assert sent.provider == "sandbox"


async def test_existing_user_confirms_their_password_to_join(api, services):
    home, other = await new_tenant("Home"), await new_tenant("Other")
    data = await api.gql(other.secret_key, INVITE, {"email": home.owner_email, "role": "APPROVER"})
    token = _token(data["inviteUser"]["inviteUrl"])
    wrong = await api.http.post(
        "/auth/accept-invitation", json={"token": token, "password": "not my password"}
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "password"
    joined = await api.http.post(
        "/auth/accept-invitation", json={"token": token, "password": home.owner_password}
    )
    assert joined.status_code == 200 and joined.json()["workspaceId"] == other.workspace_id
    # The same login now reaches both organizations, each with its own role.
    mine = await api.login(home.owner_email, home.owner_password, home.workspace_id)
    theirs = await api.login(home.owner_email, home.owner_password, other.workspace_id)
    assert (await api.gql(mine, "{ viewer { role } }"))["viewer"]["role"] == "OWNER"
    assert (await api.gql(theirs, "{ viewer { role } }"))["viewer"]["role"] == "APPROVER"
