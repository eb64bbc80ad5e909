"""Automod catches each rule type, leaves a fixed corpus of ordinary messages alone, and
refuses unsafe regexes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import User
from moderation.automod import UnsafePattern, check_pattern
from moderation.models import AuditLogEntry, MemberTimeout, ReportCase
from moderation.services import automod as automod_services
from moderation.services.automod import AUTOMOD_BLOCKED
from united.audit import AuditLogEvent

pytestmark = pytest.mark.django_db

CORPUS = (Path(__file__).parent / "fixtures" / "ordinary_messages.txt").read_text().splitlines()

RULES = {
    "keyword": {"words": ["scam", "freecoin*"]},
    "regex": {"patterns": [r"\bfree\s{1,3}nitro\b", r"[0-9]{4}-?[0-9]{4}-?[0-9]{4}-?[0-9]{4}"]},
    "links": {"allow_domains": ["example.org"]},
    "invites": {},
    "mention_spam": {"max_mentions": 3},
    "flood": {"max_messages": 5, "per_seconds": 60},
    "new_account": {"min_account_age_seconds": 3600},
    "duplicate": {"max_duplicates": 2, "per_seconds": 120},
}


def post(api, user, channel, content):
    return api(user).post(f"/api/v1/channels/{channel.id}/messages", {"content": content}, "json")


def add_rule(api, w, kind, action="block", **extra):
    body = {"name": f"no {kind}", "type": kind, "config": RULES[kind], "action": action, **extra}
    response = api(w.alice).post(f"/api/v1/guilds/{w.guild.id}/auto-moderation/rules", body, "json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def all_rules(world, api):
    for kind in RULES:
        add_rule(api, world, kind)
    # Bob's account is old enough; the new-account rule is for others.
    User.objects.filter(id=world.bob.id).update(date_joined=timezone.now() - timedelta(days=30))
    world.bob.refresh_from_db()
    return world


def test_ordinary_messages_pass_every_rule(all_rules, api):
    """Every line of the corpus goes through the guild's real rules (the facts each rule
    gathers from the database included); every tenth is also sent through the API, by old
    accounts in turn at a human pace (flood/duplicate windows apart)."""
    from messaging.models import Message
    from messaging.services.access import access_text_channel

    w = all_rules
    assert len(CORPUS) >= 100
    senders = [w.bob, w.carol]
    User.objects.filter(id=w.carol.id).update(date_joined=timezone.now() - timedelta(days=30))
    w.carol.refresh_from_db()
    access = {s.id: access_text_channel(s, w.channel.id) for s in senders}

    fired = {}
    for i, line in enumerate(CORPUS):
        sender = senders[i % 2]
        hits = automod_services.fired_rules(access[sender.id], sender, line)
        if hits:
            fired[line] = [reason for _, reason in hits]
        if i % 10 == 0:
            response = post(api, sender, w.channel, line)
            assert response.status_code == 200, (line, response.json())
            # Age the sent message so the flood window reflects a person typing, not a script.
            Message.objects.filter(id=response.json()["id"]).update(
                created_at=timezone.now() - timedelta(minutes=10)
            )
    assert fired == {}
    assert Message.objects.filter(channel=w.channel).count() == len(CORPUS[::10])
    assert not AuditLogEntry.objects.filter(
        action_type=AuditLogEvent.AUTO_MODERATION_BLOCK_MESSAGE
    ).exists()


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("keyword", "this is a SCAM, trust me"),
        ("keyword", "get freecoins here"),
        ("regex", "claim your FREE  nitro today"),
        ("regex", "card 4111-1111-1111-1111"),
        ("links", "look at https://evil.test/path"),
        ("links", "or www.evil.test for short"),
        ("invites", "join us at discord.gg/abcdef"),
        ("invites", "come over: https://other.node/invite/Zx9_k2"),
        ("mention_spam", "<@1> <@2> <@3> <@&4> hello"),
    ],
)
def test_each_content_rule_blocks(world, api, kind, content):
    w = world
    add_rule(api, w, kind)
    response = post(api, w.bob, w.channel, content)
    assert response.status_code == 400 and response.json()["code"] == AUTOMOD_BLOCKED
    entry = AuditLogEntry.objects.get(action_type=AuditLogEvent.AUTO_MODERATION_BLOCK_MESSAGE)
    assert entry.target_id == w.bob.id and entry.actor_id is None
    # Allowed links and this guild's own invites pass.
    if kind == "links":
        assert post(api, w.bob, w.channel, "docs at https://example.org/x").status_code == 200
    if kind == "invites":
        own = f"join at https://node/invite/{w.invite.code}"
        assert post(api, w.bob, w.channel, own).status_code == 200


def test_flood_duplicate_and_new_account(world, api, make_user):
    w = world
    add_rule(api, w, "flood")
    for i in range(5):
        assert post(api, w.bob, w.channel, f"message {i}").status_code == 200
    assert post(api, w.bob, w.channel, "one too many").json()["code"] == AUTOMOD_BLOCKED

    add_rule(api, w, "duplicate")
    assert post(api, w.carol, w.channel, "BUY NOW").status_code == 200
    assert post(api, w.carol, w.other, "buy   now").status_code == 200
    assert post(api, w.carol, w.channel, "Buy now").json()["code"] == AUTOMOD_BLOCKED

    add_rule(api, w, "new_account")
    newbie = make_user("newbie")
    from guilds.services.members import do_add_member

    do_add_member(w.guild, newbie)
    assert post(api, newbie, w.channel, "hi all").json()["code"] == AUTOMOD_BLOCKED
    User.objects.filter(id=newbie.id).update(date_joined=timezone.now() - timedelta(hours=2))
    assert post(api, User.objects.get(id=newbie.id), w.channel, "hi all").status_code == 200


def test_flag_and_timeout_actions_and_exemptions(world, api):
    w = world
    add_rule(api, w, "keyword", action="flag")
    response = post(api, w.bob, w.channel, "is this a scam?")
    assert response.status_code == 200  # flagged, not blocked
    case = ReportCase.objects.get(automod=True)
    assert case.guild_id == w.guild.id and case.target_user_id == w.bob.id
    assert case.snapshot["flagged"]["content"] == "is this a scam?"

    rule = add_rule(api, w, "links", action="timeout", timeout_seconds=600)
    assert post(api, w.carol, w.channel, "https://evil.test").status_code == 400
    timeout = MemberTimeout.objects.get(user=w.carol)
    assert timeout.until > timezone.now() + timedelta(minutes=9)
    entry = AuditLogEntry.objects.get(
        action_type=AuditLogEvent.AUTO_MODERATION_USER_COMMUNICATION_DISABLED
    )
    assert entry.target_id == w.carol.id

    # Exempt channel and role; moderators with MANAGE_GUILD are never judged.
    rule_url = f"/api/v1/guilds/{w.guild.id}/auto-moderation/rules/{rule['id']}"
    patch = {"exempt_channels": [str(w.other.id)], "exempt_roles": [str(w.mod_role.id)]}
    assert api(w.alice).patch(rule_url, patch, "json").status_code == 200
    assert post(api, w.bob, w.other, "https://evil.test").status_code == 200
    assert post(api, w.mo, w.channel, "https://evil.test").status_code == 200
    assert post(api, w.alice, w.channel, "https://evil.test scam").status_code == 200
    assert api(w.mo).patch(rule_url, {"enabled": False}, "json").status_code == 403
    assert api(w.alice).delete(rule_url).status_code == 204


@pytest.mark.parametrize(
    "pattern",
    ["(a+)+", "(a|aa)*", r"(\w+\s?)*", r"(x)\1", "(?=a)b", ".*.*x", "a" * 201, "[unclosed"],
)
def test_unsafe_or_broken_regexes_are_refused(world, api, pattern):
    with pytest.raises(UnsafePattern):
        check_pattern(pattern)
    body = {"name": "r", "type": "regex", "config": {"patterns": [pattern]}, "action": "block"}
    url = f"/api/v1/guilds/{world.guild.id}/auto-moderation/rules"
    assert api(world.alice).post(url, body, "json").status_code == 400


def test_allowed_regex_answers_on_hostile_input(world):
    # Speed is bounded by construction (the backtracking budget, tested above by refusing
    # patterns over it) rather than by a wall-clock assertion that flakes on a loaded machine.
    from moderation.automod import MAX_INPUT, MessageFacts, matches

    check_pattern(r".*a{0,8}x")
    assert matches("regex", {"patterns": [r".*a{0,8}x"]}, MessageFacts("a" * 4000)) is None
    tail_hit = MessageFacts("a" * MAX_INPUT + "x")
    assert matches("regex", {"patterns": [r".*a{0,8}x"]}, tail_hit) is None  # input is capped
    assert matches("regex", {"patterns": [r".*a{0,8}x"]}, MessageFacts("aax")) is not None


def test_rules_need_manage_guild(world, api):
    body = {"name": "x", "type": "invites", "config": {}, "action": "block"}
    url = f"/api/v1/guilds/{world.guild.id}/auto-moderation/rules"
    assert api(world.mo).post(url, body, "json").status_code == 403
    assert api(world.mo).get(url).status_code == 403
    assert automod_services.list_rules(world.alice, world.guild.id) == []
