"""Reports form cases; the evidence outlives the message; moderators work the queue."""

from __future__ import annotations

import base64

import pytest
from nacl.signing import SigningKey

from accounts.services.keys import do_register_device
from guilds.models import Member
from messaging.services import messages as message_services
from moderation.models import AuditLogEntry, CaseState, GuildBan, ReportCase
from moderation.services.reports import attachment_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def spam(world):
    message, _ = message_services.check_send_message(
        world.bob, world.channel.id, content="buy cheap followers at example.test"
    )
    return message


def report_message(api, user, message, category="spam", **extra):
    body = {
        "type": "message",
        "channel_id": str(message.channel_id),
        "message_id": str(message.id),
        "category": category,
        "note": "this is spam",
        **extra,
    }
    return api(user).post("/api/v1/reports", body, "json")


def test_a_report_survives_deletion_of_the_reported_message(world, api, spam):
    w = world
    response = report_message(api, w.carol, spam)
    assert response.status_code == 201, response.content
    case_id = response.json()["case_id"]
    # The author deletes the message: content gone from messaging, kept in the case.
    assert api(w.bob).delete(f"/api/v1/channels/{w.channel.id}/messages/{spam.id}").status_code
    spam.refresh_from_db()
    assert spam.deleted and spam.content == ""
    case = api(w.mo).get(f"/api/v1/report-cases/{case_id}").json()
    assert case["snapshot"]["message"]["content"] == "buy cheap followers at example.test"
    assert case["snapshot"]["author"]["username"] == "bob"
    assert case["reports"][0]["note"] == "this is spam"


def test_many_reports_of_one_message_are_one_case(world, api, spam, make_user):
    w = world
    first = report_message(api, w.carol, spam).json()
    again = report_message(api, w.carol, spam).json()  # the same reporter twice: one report
    assert again == first
    second = report_message(api, w.sam, spam, category="harassment").json()
    assert second["case_id"] == first["case_id"]
    case = ReportCase.objects.get()
    assert case.report_count == 2 and case.severity == 3
    queue = api(w.mo).get(f"/api/v1/guilds/{w.guild.id}/report-cases").json()
    assert [c["id"] for c in queue] == [first["case_id"]]


def test_queue_is_for_moderators_and_orders_by_severity_then_age(world, api, spam):
    w = world
    low = report_message(api, w.carol, spam).json()["case_id"]
    high = api(w.carol).post(
        "/api/v1/reports",
        {"type": "user", "user_id": str(w.bob.id), "guild_id": str(w.guild.id), "category": "hate"},
        "json",
    )
    assert high.status_code == 201
    queue = api(w.mo).get(f"/api/v1/guilds/{w.guild.id}/report-cases").json()
    assert [c["id"] for c in queue] == [high.json()["case_id"], low]
    assert api(w.carol).get(f"/api/v1/guilds/{w.guild.id}/report-cases").status_code == 403
    assert api(w.carol).get(f"/api/v1/report-cases/{low}").status_code == 404


def test_states_follow_the_transition_table(world, api, spam):
    w = world
    case_id = report_message(api, w.carol, spam).json()["case_id"]
    url = f"/api/v1/report-cases/{case_id}"
    assigned = api(w.mo).patch(url, {"assignee_id": str(w.sam.id)}, "json").json()
    assert assigned["state"] == "assigned" and assigned["assignee_id"] == str(w.sam.id)
    # Only people who work this queue can be assigned.
    assert api(w.mo).patch(url, {"assignee_id": str(w.carol.id)}, "json").status_code == 400
    assert api(w.mo).post(f"{url}/notes", {"body": "looks like a bot"}, "json").status_code == 201
    assert api(w.mo).patch(url, {"state": "dismissed"}, "json").json()["state"] == "dismissed"
    assert api(w.mo).patch(url, {"state": "assigned"}, "json").status_code == 400
    reopened = api(w.mo).patch(url, {"state": "open"}, "json").json()
    assert reopened["state"] == "open" and reopened["assignee_id"] is None
    detail = api(w.mo).get(url).json()
    assert detail["notes"][0]["body"] == "looks like a bot"
    # A new report of a dismissed target opens a fresh case; of an open one, joins it.
    api(w.mo).patch(url, {"state": "dismissed"}, "json")
    fresh = report_message(api, w.sam, spam).json()["case_id"]
    assert fresh != case_id


def test_one_click_actions_link_back_to_the_case(world, api, spam):
    w = world
    case_id = report_message(api, w.carol, spam).json()["case_id"]
    url = f"/api/v1/report-cases/{case_id}/actions"
    deleted = api(w.mo).post(url, {"action": "delete_message", "reason": "spam"}, "json")
    assert deleted.status_code == 201, deleted.content
    spam.refresh_from_db()
    assert spam.deleted
    timed = api(w.mo).post(url, {"action": "timeout", "duration_seconds": 600}, "json")
    assert timed.status_code == 201
    # Mo may not ban: the case door refuses like every other door.
    assert api(w.mo).post(url, {"action": "ban"}, "json").status_code == 403
    assert not GuildBan.objects.exists()
    banned = api(w.sam).post(url, {"action": "ban", "delete_message_seconds": 60}, "json")
    assert banned.status_code == 201
    assert not Member.objects.filter(guild=w.guild, user=w.bob).exists()
    detail = api(w.sam).get(f"/api/v1/report-cases/{case_id}").json()
    assert detail["state"] == CaseState.ACTIONED
    assert [a["action"] for a in detail["actions"]] == ["delete_message", "timeout", "ban"]
    seq = detail["actions"][-1]["modlog_seq"]
    entry = AuditLogEntry.objects.get(guild=w.guild, seq=seq)
    assert entry.reason.startswith(f"[case {case_id}]") and entry.target_id == w.bob.id


def test_reports_of_users_and_guilds_and_what_you_cannot_see(world, api, spam, make_user):
    w = world
    outsider = make_user("eve")
    # Eve cannot see the channel, so she cannot report its messages.
    assert report_message(api, outsider, spam).status_code == 404
    node = api(outsider).post(
        "/api/v1/reports", {"type": "user", "user_id": str(w.bob.id), "category": "spam"}, "json"
    )
    assert node.status_code == 201
    case = ReportCase.objects.get(id=node.json()["case_id"])
    assert case.guild_id is None and case.snapshot["user"]["username"] == "bob"
    # A private guild is unknown to a non-member; its members may report it to the node.
    body = {"type": "guild", "guild_id": str(w.guild.id), "category": "illegal"}
    assert api(outsider).post("/api/v1/reports", body, "json").status_code == 404
    assert api(w.carol).post("/api/v1/reports", body, "json").status_code == 201
    assert api(w.mo).get("/api/v1/report-cases").status_code == 404  # operators only
    operator = make_user("root", is_superuser=True, is_staff=True)
    node_queue = api(operator).get("/api/v1/report-cases").json()
    assert [c["type"] for c in node_queue] == ["guild", "user"]  # illegal outranks spam
    assert api(w.carol).post("/api/v1/reports", {"type": "x"}, "json").status_code == 400


def test_a_member_report_with_bad_ids_or_about_oneself_is_refused_in_the_error_shape(
    world, api, make_user
):
    w = world
    cases_before = ReportCase.objects.count()

    def report(**fields):
        body = {"type": "user", "category": "spam", **fields}
        return api(w.carol).post("/api/v1/reports", body, "json")

    myself = report(user_id=str(w.carol.id), guild_id=str(w.guild.id))
    assert myself.status_code == 400
    assert myself.json()["errors"] == {"user_id": ["You cannot report yourself."]}
    for bad in ("abc", "9" * 30, "-1", str(2**63)):
        unknown_user = report(user_id=bad)
        assert (unknown_user.status_code, unknown_user.json()["code"]) == (404, 10013), bad
        unknown_guild = report(user_id=str(w.bob.id), guild_id=bad)
        assert (unknown_guild.status_code, unknown_guild.json()["code"]) == (404, 10004), bad
    # A reporter may file 10 reports in 10 minutes, refused ones included: a fresh one each.
    for n, bad in enumerate(("abc", "9" * 30, str(2**63))):
        reporter = api(make_user(f"reporter{n}"))
        body = {"type": "message", "channel_id": bad, "message_id": bad, "category": "spam"}
        unknown = reporter.post("/api/v1/reports", body, "json")
        assert unknown.status_code == 404, (bad, unknown.content)
        body = {"type": "guild", "guild_id": bad, "category": "spam"}
        unknown = reporter.post("/api/v1/reports", body, "json")
        assert (unknown.status_code, unknown.json()["code"]) == (404, 10004), bad
    assert ReportCase.objects.count() == cases_before


def test_reporter_attaches_decrypted_content_signed_by_their_device(world, api, spam):
    w = world
    key = SigningKey.generate()
    identity = base64.b64encode(bytes(key.verify_key)).decode()
    signed = {"key_id": 1, "public_key": identity, "signature": ""}
    device = do_register_device(w.carol, "phone", identity, signed, [])
    content = "the decrypted DM text"
    target = f"message:{spam.id}"
    good = base64.b64encode(key.sign(attachment_bytes(target, content)).signature).decode()
    fields = {
        "reporter_attached_content": content,
        "reporter_signature": good,
        "reporter_device_id": str(device.id),
    }
    forged = {**fields, "reporter_signature": base64.b64encode(b"x" * 64).decode()}
    assert report_message(api, w.carol, spam, **forged).status_code == 400
    response = report_message(api, w.carol, spam, **fields)
    assert response.status_code == 201
    report = api(w.mo).get(f"/api/v1/report-cases/{response.json()['case_id']}").json()
    assert report["reports"][0]["reporter_attached_content"] == content
    assert report["reports"][0]["signature_valid"] is True


def test_the_queue_s_moderators_hear_of_a_new_case_and_its_end_and_nobody_else_does(
    world, api, spam, published, django_capture_on_commit_callbacks
):
    w = world
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        case_id = report_message(api, w.carol, spam).json()["case_id"]

    def heard() -> dict[str, dict]:
        found = {g: d for g, t, d in published if t == "REPORT_CASE_UPDATE"}
        published.clear()
        return found

    mods = {f"user.{u.id}" for u in (w.owner, w.sam, w.mo)}
    opened = heard()
    assert set(opened) == mods  # not carol who reported, not bob who is reported
    assert all(
        d == {"guild_id": str(w.guild.id), "case_id": case_id, "state": "open"}
        for d in opened.values()
    )
    # A second report joins the open case: the count beside Moderation does not change.
    with django_capture_on_commit_callbacks(execute=True):
        report_message(api, w.bob, spam)
    assert heard() == {}
    with django_capture_on_commit_callbacks(execute=True):
        api(w.mo).patch(f"/api/v1/report-cases/{case_id}", {"state": "dismissed"}, "json")
    assert {d["state"] for d in heard().values()} == {"dismissed"}


def test_when_everyone_may_moderate_every_member_hears_of_a_case(
    world, api, spam, published, django_capture_on_commit_callbacks
):
    from guilds.models import Role
    from guilds.permissions import Permissions as P

    w = world
    everyone = Role.objects.get(id=w.guild.id)
    everyone.permissions |= P.MANAGE_MESSAGES
    everyone.save(update_fields=["permissions"])
    with django_capture_on_commit_callbacks(execute=True):
        report_message(api, w.carol, spam)
    heard = {g for g, t, _ in published if t == "REPORT_CASE_UPDATE"}
    members = Member.objects.filter(guild=w.guild).values_list("user_id", flat=True)
    assert heard == {f"user.{u}" for u in members}
