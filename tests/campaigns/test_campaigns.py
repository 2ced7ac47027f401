"""Campaigns through GraphQL: drafts and their validation, locking, the lifecycle with its
audit trail, approvals (approver vs marketer), simple-mode goals, hostile input and
tenant isolation. (Sending is in tests/campaigns/test_sending.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from beanie import PydanticObjectId

from documents.campaign import Campaign
from documents.listener import Listener
from documents.user import Membership, User
from resolvers.accounts.passwords import hash_password
from tests.campaign_helpers import (
    CREATE,
    UPDATE,
    add_contact,
    add_segment,
    call,
    create,
    definition,
    get,
    rows,
)
from tests.helpers import new_tenant, unique_email

LATER = (datetime.now(UTC) + timedelta(days=2)).isoformat()


async def _user(api, tenant, role: str) -> str:
    email = unique_email(role)
    user = await User(email=email, password_hash=await hash_password("pass phrase 123")).insert()
    await Membership(organization_id=tenant.organization_id, user_id=user.id, role=role).insert()
    return await api.login(email, "pass phrase 123")


async def _campaigns(tenant) -> list[Campaign]:
    return await Campaign.find({"workspace_id": PydanticObjectId(tenant.workspace_id)}).to_list()


async def _audit(api, tenant) -> list[str]:
    query = "{ auditEntries(first: 100) { edges { node { action targetType details } } } }"
    data = await api.gql(tenant.secret_key, query)
    return [
        e["node"]["action"]
        for e in data["auditEntries"]["edges"]
        if e["node"]["targetType"] == "campaign"
    ]


async def test_drafts_validation_locking_and_lifecycle(api, services):
    t = await new_tenant()
    await add_contact(api, t, email="ana@example.com", tags=["vip"])
    vip = await add_segment(api, t, "VIP", {"tag": "vip"})

    # Every problem of a definition comes back at its path; nothing is stored.
    bad = {
        "name": "  ",
        "channels": ["email", "pigeon", "email"],
        "segmentIds": ["not-an-id"],
        "variants": [
            {"key": "A", "weight": 70, "content": {"email": {"subject": "x", "colour": "red"}}},
            {"key": "A", "weight": 20, "content": {"fax": {"text": "x"}}},
        ],
        "abTest": {"testFraction": 2.5, "windowHours": 0},
        "schedule": {"timezone": "Mars/Olympus", "recurrence": {"every": "fortnight"}},
    }
    payload = (await api.gql(t.secret_key, CREATE, {"input": bad}))["createCampaign"]
    assert payload["campaign"] is None
    fields = {e["field"] for e in payload["userErrors"]}
    for expected in (
        "name",
        "channels[1]",
        "channels[2]",
        "segmentIds[0]",
        "variants[0].content.email.colour",
        "variants[1].key",
        "variants[1].content.fax",
        "variants",
        "abTest.testFraction",
        "abTest.windowHours",
        "schedule.timezone",
    ):
        assert expected in fields, (expected, payload["userErrors"])
    assert any(f.startswith("schedule.recurrence") for f in fields), fields
    assert await _campaigns(t) == []

    draft = await create(api, t.secret_key, definition([vip], name="Spring sale"))
    assert draft["status"] == "DRAFT" and draft["mode"] == "ADVANCED"
    assert draft["kind"] == "ONE_TIME" and draft["variants"][0]["weight"] == 100

    # Launch checks render the content for a sample contact: every problem, with its path.
    broken = {
        "variants": [
            {
                "key": "A",
                "weight": 100,
                "content": {"email": {"subject": "{{ contact.first_name", "text": "{{ 1/0 }}"}},
            }
        ],
    }
    data = await api.gql(t.secret_key, UPDATE, {"id": draft["id"], "input": broken})
    assert data["updateCampaign"]["userErrors"] == []
    result = await call(api, t.secret_key, "scheduleCampaign", draft["id"])
    errors = {e["field"]: e["code"] for e in result["userErrors"]}
    assert errors["variants[0].content.email.subject"] == "TEMPLATE_SYNTAX", errors
    assert errors["variants[0].content.email.text"] == "TEMPLATE_RENDER", errors
    assert "variants[0].content.sms" in errors  # no SMS content for a listed channel
    assert (await get(api, t.secret_key, draft["id"]))["status"] == "DRAFT"

    fixed = definition([vip], schedule={"sendAt": LATER, "timezone": "Asia/Kolkata"})
    data = await api.gql(t.secret_key, UPDATE, {"id": draft["id"], "input": fixed})
    assert data["updateCampaign"]["userErrors"] == []
    scheduled = await call(api, t.secret_key, "scheduleCampaign", draft["id"])
    assert scheduled["userErrors"] == [], scheduled
    assert scheduled["campaign"]["status"] == "SCHEDULED"
    assert scheduled["campaign"]["nextRunAt"].startswith(LATER[:16])

    # Locked: no edits, no deletion, no second schedule.
    data = await api.gql(t.secret_key, UPDATE, {"id": draft["id"], "input": {"name": "New"}})
    assert data["updateCampaign"]["userErrors"][0]["code"] == "CAMPAIGN_LOCKED"
    delete = (
        "mutation($id: ID!) { deleteCampaign(id: $id) { deletedCampaignId userErrors { code } } }"
    )
    data = await api.gql(t.secret_key, delete, {"id": draft["id"]})
    assert data["deleteCampaign"]["userErrors"][0]["code"] == "CAMPAIGN_LOCKED"
    again = await call(api, t.secret_key, "scheduleCampaign", draft["id"])
    assert again["userErrors"][0]["code"] == "CAMPAIGN_STATE"

    paused = await call(api, t.secret_key, "pauseCampaign", draft["id"])
    assert paused["campaign"]["status"] == "PAUSED"
    resumed = await call(api, t.secret_key, "resumeCampaign", draft["id"])
    assert resumed["campaign"]["status"] == "SCHEDULED"
    cancelled = await call(api, t.secret_key, "cancelCampaign", draft["id"])
    assert cancelled["campaign"]["status"] == "CANCELLED"
    again = await call(api, t.secret_key, "resumeCampaign", draft["id"])
    assert again["userErrors"][0]["code"] == "CAMPAIGN_STATE"
    assert await rows(t, draft["id"]) == []  # nothing was ever queued

    copy_doc = (
        "mutation($id: ID!) { duplicateCampaign(id: $id) { campaign { id name status "
        "segmentIds } userErrors { code } } }"
    )
    copy = (await api.gql(t.secret_key, copy_doc, {"id": draft["id"]}))["duplicateCampaign"]
    assert copy["campaign"]["status"] == "DRAFT" and copy["campaign"]["segmentIds"] == [vip]
    assert copy["campaign"]["name"] == "Launch (copy)"
    data = await api.gql(t.secret_key, delete, {"id": copy["campaign"]["id"]})
    assert data["deleteCampaign"]["deletedCampaignId"] == copy["campaign"]["id"]

    listed = await api.gql(
        t.secret_key, "{ campaigns(status: CANCELLED) { totalCount edges { node { id } } } }"
    )
    assert listed["campaigns"]["totalCount"] == 1
    actions = await _audit(api, t)
    for expected in (
        "campaign.created",
        "campaign.updated",
        "campaign.scheduled",
        "campaign.paused",
        "campaign.resumed",
        "campaign.cancelled",
        "campaign.duplicated",
        "campaign.deleted",
    ):
        assert expected in actions, (expected, actions)


async def test_approvals_need_an_approver(api, services):
    t = await new_tenant()
    await add_contact(api, t, email="ana@example.com", tags=["vip"])
    vip = await add_segment(api, t, "VIP", {"tag": "vip"})
    rules = "mutation { updateSendingRules(approvalRequired: true) { userErrors { code } } }"
    assert (await api.gql(t.secret_key, rules))["updateSendingRules"]["userErrors"] == []
    marketer = await _user(api, t, "marketer")
    approver = await _user(api, t, "approver")

    draft = await create(api, marketer, definition([vip], schedule={"sendAt": LATER}))
    result = await call(api, marketer, "scheduleCampaign", draft["id"])
    assert result["userErrors"][0]["code"] == "APPROVAL_REQUIRED"
    # Approvers sign off; they do not author campaigns.
    denied = await api.gql(approver, CREATE, {"input": definition([vip])})
    assert denied["createCampaign"]["userErrors"][0]["code"] == "FORBIDDEN"

    pending = await call(api, marketer, "requestCampaignApproval", draft["id"])
    assert pending["campaign"]["status"] == "PENDING_APPROVAL"
    assert pending["campaign"]["approval"]["state"] == "pending"
    data = await api.gql(marketer, UPDATE, {"id": draft["id"], "input": {"name": "Sneaky"}})
    assert data["updateCampaign"]["userErrors"][0]["code"] == "CAMPAIGN_LOCKED"

    mine = await call(api, marketer, "approveCampaign", draft["id"], None, "String")
    assert mine["userErrors"][0]["code"] == "FORBIDDEN"
    silent = await call(api, approver, "rejectCampaign", draft["id"], " ", "String!")
    assert silent["userErrors"][0]["field"] == "comment"
    rejected = await call(
        api, approver, "rejectCampaign", draft["id"], "Fix the subject", "String!"
    )
    assert rejected["userErrors"] == []
    campaign = rejected["campaign"]
    assert campaign["status"] == "DRAFT"
    assert campaign["approval"]["state"] == "rejected"
    assert campaign["approval"]["comment"] == "Fix the subject"

    # Rejected means editable again; the comment stays until the next request.
    data = await api.gql(marketer, UPDATE, {"id": draft["id"], "input": {"name": "Better"}})
    assert data["updateCampaign"]["campaign"]["approval"]["comment"] == "Fix the subject"
    await call(api, marketer, "requestCampaignApproval", draft["id"])
    approved = await call(api, approver, "approveCampaign", draft["id"], "Go", "String")
    assert approved["userErrors"] == [], approved
    assert approved["campaign"]["status"] == "SCHEDULED"
    assert approved["campaign"]["approval"]["state"] == "approved"
    assert (
        approved["campaign"]["approval"]["decidedBy"]
        != approved["campaign"]["approval"]["requestedBy"]
    )
    actions = await _audit(api, t)
    assert actions.count("campaign.approval_requested") == 2
    assert "campaign.rejected" in actions and "campaign.approved" in actions


async def test_simple_mode_goals(api, services):
    t = await new_tenant()
    goals = await api.gql(
        t.secret_key, "{ campaignGoals { key label suggestedRules starter conversionEvent } }"
    )
    keys = {g["key"] for g in goals["campaignGoals"]}
    assert keys == {
        "cart_recovery",
        "product_launch",
        "win_back",
        "birthday",
        "feedback_request",
        "reorder_reminder",
    }
    doc = (
        "mutation($goal: String!) { createCampaignFromGoal(goal: $goal) { campaign { id mode "
        "goal status segmentIds channels variants { key content } conversionGoal { event } } "
        "userErrors { field code } } }"
    )
    data = (await api.gql(t.secret_key, doc, {"goal": "cart_recovery"}))["createCampaignFromGoal"]
    assert data["userErrors"] == [], data
    campaign = data["campaign"]
    assert campaign["mode"] == "SIMPLE" and campaign["goal"] == "cart_recovery"
    assert len(campaign["segmentIds"]) == 1 and campaign["variants"][0]["content"]
    assert campaign["conversionGoal"]["event"] == "order_completed"
    segment = await api.gql(
        t.secret_key,
        "query($id: ID!) { segment(id: $id) { name rules } }",
        {"id": campaign["segmentIds"][0]},
    )
    assert segment["segment"]["name"] == "Cart recovery audience"
    # The starter renders for anyone: the goal draft schedules without edits.
    await add_contact(api, t, email="nobody@example.com")
    scheduled = await call(api, t.secret_key, "scheduleCampaign", campaign["id"])
    assert scheduled["userErrors"] == [], scheduled
    data = await api.gql(t.secret_key, doc, {"goal": "world_domination"})
    assert data["createCampaignFromGoal"]["userErrors"][0]["field"] == "goal"


async def test_hostile_input_is_refused_and_nothing_is_stored(api, services):
    t = await new_tenant()
    vip = await add_segment(api, t, "VIP", {"tag": "vip"})
    attempts = [
        ({"name": "x" * 500}, "name"),
        (
            {
                "name": "ok",
                "variants": [{"key": f"V{i}", "weight": 20, "content": {}} for i in range(6)],
            },
            "variants",
        ),
        (
            {"name": "ok", "variants": [{"key": "A", "weight": -5, "content": {}}]},
            "variants[0].weight",
        ),
        (
            {"name": "ok", "variants": [{"key": "A; drop", "weight": 100, "content": {}}]},
            "variants[0].key",
        ),
        (
            {
                "name": "ok",
                "variants": [
                    {"key": "A", "weight": 100, "content": {"email": {"subject": "x" * 60_000}}}
                ],
            },
            "variants[0].content.email.subject",
        ),
        (
            {"name": "ok", "variants": [{"key": "A", "weight": 100, "content": "nope"}]},
            "variants[0].content",
        ),
        (
            {"name": "ok", "paidAudience": {"kind": "WEBHOOK", "url": "http://example.com/x"}},
            "paidAudience.url",
        ),
        (
            {"name": "ok", "paidAudience": {"kind": "WEBHOOK", "url": "file:///etc/passwd"}},
            "paidAudience.url",
        ),
        ({"name": "ok", "conversionGoal": {"event": "$where"}}, "conversionGoal.event"),
        (
            {
                "name": "ok",
                "conversionGoal": {
                    "event": "order",
                    "where": [{"property": "$gt", "op": "eq", "value": 1}],
                },
            },
            "conversionGoal.where[0].property",
        ),
        ({"name": "ok", "trigger": {"event": "x", "segmentId": vip}}, "trigger"),
        (
            {"name": "ok", "schedule": {"recurrence": {"every": "cron", "cron": "* * * *"}}},
            "schedule.recurrence",
        ),
        ({"name": "ok", "segmentIds": [vip] * 30}, "segmentIds"),
        ({"name": "ok", "locationId": "000000000000000000000000"}, "locationId"),
    ]
    for data, field in attempts:
        payload = (await api.gql(t.secret_key, CREATE, {"input": data}))["createCampaign"]
        assert payload["campaign"] is None, (data, payload)
        fields = [e["field"] or "" for e in payload["userErrors"]]
        assert any(f.startswith(field) for f in fields), (field, payload["userErrors"])
    assert await _campaigns(t) == []

    # A template may not reach Python internals; the launch refuses it with a reason.
    sneaky = definition(
        [vip],
        channels=["email"],
        variants=[
            {
                "key": "A",
                "weight": 100,
                "content": {"email": {"subject": "{{ ''.__class__.__mro__ }}", "text": "x"}},
            }
        ],
    )
    draft = await create(api, t.secret_key, sneaky)
    result = await call(api, t.secret_key, "scheduleCampaign", draft["id"])
    assert result["userErrors"][0]["field"] == "variants[0].content.email.subject", result
    # Nonsense ids are simply not found.
    missing = await call(api, t.secret_key, "pauseCampaign", "../../etc")
    assert missing["userErrors"][0]["code"] == "NOT_FOUND"


async def test_tenant_isolation(api, services):
    a, b = await new_tenant("A"), await new_tenant("B")
    await add_contact(api, a, email="ana@example.com", tags=["vip"])
    vip_a = await add_segment(api, a, "VIP", {"tag": "vip"})
    campaign = await create(api, a.secret_key, definition([vip_a], schedule={"sendAt": LATER}))
    assert await get(api, b.secret_key, campaign["id"]) is None
    listed = await api.gql(b.secret_key, "{ campaigns { totalCount } }")
    assert listed["campaigns"]["totalCount"] == 0
    for name in ("scheduleCampaign", "pauseCampaign", "cancelCampaign", "requestCampaignApproval"):
        result = await call(api, b.secret_key, name, campaign["id"])
        assert result["userErrors"][0]["code"] == "NOT_FOUND", (name, result)
    data = await api.gql(b.secret_key, UPDATE, {"id": campaign["id"], "input": {"name": "Mine"}})
    assert data["updateCampaign"]["userErrors"][0]["code"] == "NOT_FOUND"
    # B cannot aim a campaign at A's segment.
    theirs = await create(api, b.secret_key, definition([vip_a]))
    result = await call(api, b.secret_key, "scheduleCampaign", theirs["id"])
    assert {"field": "segmentIds[0]", "code": "NOT_FOUND"} in [
        {"field": e["field"], "code": e["code"]} for e in result["userErrors"]
    ]
    assert (await get(api, a.secret_key, campaign["id"]))["name"] == "Launch"
    assert await Listener.find({"workspace_id": PydanticObjectId(b.workspace_id)}).count() == 0


async def test_a_variant_can_pick_saved_templates(api, services):
    t = await new_tenant()
    save = """mutation($fields: JSON!) { saveTemplate(name: "Welcome", channel: EMAIL,
      fields: $fields) { template { id } userErrors { message } } }"""
    fields = {"subject": "Welcome {{ contact.first_name | default('friend') }}", "text": "Hi"}
    saved = (await api.gql(t.secret_key, save, {"fields": fields}))["saveTemplate"]
    template_id = saved["template"]["id"]
    segment = await add_segment(api, t, "All", {"tag": "vip"})
    picked = definition([segment], channels=["email"])
    picked["variants"] = [{"key": "A", "weight": 100, "templateIds": {"email": template_id}}]
    data = await api.gql(t.secret_key, CREATE, {"input": picked})
    payload = data["createCampaign"]
    assert payload["userErrors"] == []
    assert payload["campaign"]["variants"][0]["content"]["email"] == fields
    wrong = {
        **picked,
        "variants": [{"key": "A", "weight": 100, "templateIds": {"sms": template_id}}],
    }
    errors = (await api.gql(t.secret_key, CREATE, {"input": wrong}))["createCampaign"]["userErrors"]
    assert errors[0]["field"] == "variants[0].templateIds.sms"
    other = await new_tenant()
    foreign = (await api.gql(other.secret_key, CREATE, {"input": picked}))["createCampaign"]
    assert foreign["userErrors"][0]["code"] == "NOT_FOUND"
