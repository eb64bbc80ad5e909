"""Members in the web client: the profile card (what it shows, what it offers each viewer, and
the refusals behind it), the role order (Up/Down and the API the drag uses), the ban notice,
and mentions of people who left."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from guilds.models import Role
from guilds.permissions import Permissions as P
from guilds.services import guilds as guild_services
from guilds.services import members as member_services
from guilds.services import roles as role_services
from messaging.services import messages as message_services
from moderation.services import sanctions


def card_url(guild, user) -> str:
    return f"/app/guilds/{guild.id}/members/{user.id}/card/"


def roles_url(guild) -> str:
    return f"/app/guilds/{guild.id}/settings/roles/"


@pytest.fixture
def ranks(owner, guild, member, make_user):
    """Admins (3) > Mods (2) > Helpers (1) > @everyone; carol holds Mods, bob nothing."""
    helpers = role_services.check_create_role(owner, guild.id, {"name": "Helpers"})
    mods = role_services.check_create_role(
        owner,
        guild.id,
        {
            "name": "Mods",
            "color": 0x3BA55D,
            "permissions": str(int(P.MANAGE_ROLES | P.KICK_MEMBERS | P.MODERATE_MEMBERS)),
        },
    )
    admins = role_services.check_create_role(owner, guild.id, {"name": "Admins"})
    role_services.check_reorder_roles(
        owner,
        guild.id,
        [
            {"id": str(helpers.id), "position": 1},
            {"id": str(mods.id), "position": 2},
            {"id": str(admins.id), "position": 3},
        ],
    )
    carol = make_user("carol")
    member_services.do_add_member(guild, carol)
    member_services.check_member_role(owner, guild.id, carol.id, mods.id, add=True)
    return {"helpers": helpers, "mods": mods, "admins": admins, "carol": carol}


def checklist(html: str) -> list[str]:
    box = re.search(r"<fieldset class=\"role-checklist\".*?</fieldset>", html, re.S)
    return re.findall(r"</span> ([^<\n]+)</label>", box.group(0)) if box else []


def test_owner_card_shows_the_member_and_every_action(browser, owner, guild, member, ranks):
    other = guild_services.check_create_guild(owner, name="Second Place")
    member_services.do_add_member(other, member)
    member_services.check_member_role(owner, guild.id, member.id, ranks["helpers"].id, add=True)
    response = browser(owner).get(card_url(guild, member))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="member-card-name"' in html and ">bob</h2>" in html and "@bob" in html
    assert "Member since" in html and "Account age" in html
    assert "Second Place" in html  # mutual guilds
    assert re.search(r'class="role-chip"[^>]*>.*Helpers</li>', html)
    # The owner outranks every role: all three are in the checklist, Helpers ticked.
    assert checklist(html) == ["Admins", "Mods", "Helpers"]
    assert re.search(rf'value="{ranks["helpers"].id}" data-role-toggle checked', html)
    for action in ('data-member-action="timeout"', 'data-member-action="kick"'):
        assert action in html
    assert 'data-member-action="ban"' in html and "Previous 7 days" in html
    assert f'data-action="report-user" data-user-id="{member.id}"' in html
    assert f'name="recipient_id" value="{member.id}"' in html


def test_moderator_card_offers_only_what_the_hierarchy_allows(browser, owner, guild, member, ranks):
    carol = browser(ranks["carol"])
    html = carol.get(card_url(guild, member)).content.decode()
    # Mods (2) may give only Helpers (1); Mods and Admins are not offered.
    assert checklist(html) == ["Helpers"]
    assert 'data-member-action="kick"' in html and 'data-member-action="timeout"' in html
    assert 'data-member-action="ban"' not in html  # Mods lack BAN_MEMBERS
    # On the owner's card nothing can be done to them; still a message and a report.
    on_owner = carol.get(card_url(guild, owner)).content.decode()
    assert "data-member-action" not in on_owner and "Owner" in on_owner
    assert 'data-action="report-user"' in on_owner


def test_plain_member_card_has_no_moderation(browser, owner, guild, member, ranks):
    html = browser(member).get(card_url(guild, ranks["carol"])).content.decode()
    assert "role-checklist" not in html and "data-member-action" not in html
    assert ">Mods</li>" in html.replace("\n", "")
    own = browser(member).get(card_url(guild, member)).content.decode()
    assert "report-user" not in own and "recipient_id" not in own and "This is you." in own


def test_card_of_a_non_member_or_for_a_non_member_is_404(browser, owner, guild, make_user):
    stranger = make_user("stranger")
    assert browser(owner).get(card_url(guild, stranger)).status_code == 404
    assert browser(stranger).get(card_url(guild, owner)).status_code == 404
    assert browser(owner).get(f"/app/guilds/{guild.id}/members/999/card/").status_code == 404


def test_assigning_a_role_above_your_own_is_403_with_the_error_shape(guild, member, ranks):
    """The checklist's request (PUT member role, the API the card calls) for a role the
    card does not offer: refused by the service with Discord's 50013, nothing changes."""
    client = APIClient()
    client.force_authenticate(ranks["carol"])
    url = f"/api/v1/guilds/{guild.id}/members/{member.id}/roles/"
    for role in (ranks["admins"], ranks["mods"]):
        refused = client.put(url + str(role.id))
        assert refused.status_code == 403
        body = refused.json()
        assert body["code"] == 50013 and "highest role" in body["message"]
    assert client.put(url + str(ranks["helpers"].id)).status_code == 204
    assert set(member.memberships.get(guild=guild).roles.values_list("name", flat=True)) == {
        "Helpers"
    }


def test_member_list_colours_names_and_opens_cards(browser, owner, guild, general, member, ranks):
    html = browser(owner).get(f"/app/guilds/{guild.id}/members/").content.decode()
    carol_row = re.search(rf'data-user-id="{ranks["carol"].id}".*?</li>', html, re.S).group(0)
    assert "data-member-card-open" in carol_row and 'data-name-color="#3ba55d"' in carol_row
    page = browser(owner).get(f"/app/guilds/{guild.id}/channels/{general.id}/").content.decode()
    assert 'id="member-card"' in page and "data-member-card-dialog" in page


def test_message_author_opens_the_card(browser, owner, general, member):
    message, _ = message_services.check_send_message(member, general.id, content="hello")
    html = (
        browser(owner)
        .get(f"/app/channels/{general.id}/messages/{message.id}/fragment/")
        .content.decode()
    )
    opener = f'class="msg-author" data-member-card-open data-user-id="{member.id}"'
    assert f'<button type="button" {opener}' in html


def order(guild) -> list[str]:
    return list(
        Role.objects.filter(guild=guild)
        .exclude(id=guild.id)
        .order_by("-position")
        .values_list("name", flat=True)
    )


def test_roles_move_up_and_down_and_not_above_your_own(browser, owner, guild, ranks):
    me = browser(owner)
    page = me.get(roles_url(guild)).content.decode()
    assert 'draggable="true"' in page and "Move Helpers up" in page
    moved = me.post(roles_url(guild), {"move": ranks["helpers"].id, "direction": "up"})
    assert moved.status_code == 302
    assert order(guild) == ["Admins", "Helpers", "Mods"]
    me.post(roles_url(guild), {"move": ranks["admins"].id, "direction": "down"})
    assert order(guild) == ["Helpers", "Admins", "Mods"]

    # Carol (Mods, now lowest) may reorder nothing above Mods; the page locks those rows.
    carol = browser(ranks["carol"])
    mine = carol.get(roles_url(guild)).content.decode()
    assert "Move Helpers up" not in mine and "above your highest role" in mine
    role_services.check_reorder_roles(
        owner, guild.id, [{"id": str(ranks["mods"].id), "position": 3}]
    )
    assert order(guild) == ["Mods", "Helpers", "Admins"]
    mine = carol.get(roles_url(guild)).content.decode()
    assert re.search(r'aria-label="Move Helpers up"[^>]*disabled', mine)
    refused = carol.post(roles_url(guild), {"move": ranks["helpers"].id, "direction": "up"})
    assert refused.status_code == 403 and "below your highest role" in refused.content.decode()
    assert order(guild) == ["Mods", "Helpers", "Admins"]
    # What the drag sends: the API answers 403 in the error shape, nothing moves.
    client = APIClient()
    client.force_authenticate(ranks["carol"])
    body = [{"id": str(ranks["admins"].id), "position": 3}]
    answer = client.patch(f"/api/v1/guilds/{guild.id}/roles", body, format="json")
    assert answer.status_code == 403 and answer.json()["code"] == 50013
    assert order(guild) == ["Mods", "Helpers", "Admins"]
    ok = client.patch(
        f"/api/v1/guilds/{guild.id}/roles",
        [{"id": str(ranks["admins"].id), "position": 2}],
        format="json",
    )
    assert ok.status_code == 200 and order(guild) == ["Mods", "Admins", "Helpers"]


def test_a_banned_member_is_told_and_why_only_if_the_guild_shows_reasons(
    browser, owner, guild, general, member, make_user
):
    sanctions.check_ban(owner, guild.id, member.id, reason="spam links in #general")
    bob = browser(member)
    for url in (f"/app/guilds/{guild.id}/", f"/app/guilds/{guild.id}/channels/{general.id}/"):
        page = bob.get(url)
        html = page.content.decode()
        assert page.status_code == 403
        assert "You were banned from Test Guild" in html
        assert "spam links" not in html and "does not show the reason" in html
    saved = browser(owner).post(
        f"/app/guilds/{guild.id}/settings/overview/",
        {"name": "Test Guild", "description": "A place", "show_ban_reasons": "1"},
    )
    assert saved.status_code == 302
    html = bob.get(f"/app/guilds/{guild.id}/").content.decode()
    assert "data-ban-reason>spam links in #general</span>" in html
    # Anyone else outside the guild learns nothing: 404 in a channel, home from the guild.
    stranger = browser(make_user("stranger"))
    assert stranger.get(f"/app/guilds/{guild.id}/channels/{general.id}/").status_code == 404
    assert stranger.get(f"/app/guilds/{guild.id}/")["Location"] == "/app/"
    # Unbanned: no notice any more, just not a member.
    sanctions.check_unban(owner, guild.id, member.id)
    assert bob.get(f"/app/guilds/{guild.id}/channels/{general.id}/").status_code == 404


def test_the_api_reports_and_changes_show_ban_reasons(owner, guild):
    client = APIClient()
    client.force_authenticate(owner)
    url = f"/api/v1/guilds/{guild.id}"
    assert client.get(url).json()["show_ban_reasons"] is False
    assert client.patch(url, {"show_ban_reasons": "maybe"}, format="json").status_code == 400
    assert client.patch(url, {"show_ban_reasons": True}, format="json").status_code == 200
    guild.refresh_from_db()
    assert guild.show_ban_reasons is True


def body_of(fragment: str) -> str:
    """The drawn text of a message (its `data-content` attribute keeps the raw `<@id>` for
    editing)."""
    return re.search(r"<div class=\"msg-body\" data-body>(.*?)</div>", fragment, re.S).group(1)


def test_mentions_of_departed_members_are_greyed_names(browser, owner, guild, general, member):
    sent, _ = message_services.check_send_message(owner, general.id, content=f"hi <@{member.id}>")
    sanctions.check_ban(owner, guild.id, member.id, reason="")
    fragment = f"/app/channels/{general.id}/messages/{sent.id}/fragment/"
    html = body_of(browser(owner).get(fragment).content.decode())
    assert '<span class="mention departed">@bob' in html
    assert "&lt;@" not in html
    # An id that names nobody shows as an unknown user, not digits.
    later, _ = message_services.check_send_message(owner, general.id, content="<@1> and more")
    html = body_of(
        browser(owner)
        .get(f"/app/channels/{general.id}/messages/{later.id}/fragment/")
        .content.decode()
    )
    assert "@unknown user" in html and "&lt;@1&gt;" not in html
