"""The chat client's pages and fragments through Django's test client."""

from __future__ import annotations

from guilds.models import PermissionOverwrite
from guilds.permissions import Permissions as P
from guilds.services import channels as channel_services
from guilds.services import invites as invite_services
from messaging.services import messages as message_services
from messaging.services import reactions as reaction_services


def channel_url(guild, channel) -> str:
    return f"/app/guilds/{guild.id}/channels/{channel.id}/"


def hidden_channel(owner, guild):
    everyone_denied = {
        "id": str(guild.id),
        "type": PermissionOverwrite.ROLE,
        "allow": "0",
        "deny": str(int(P.VIEW_CHANNEL)),
    }
    return channel_services.check_create_channel(
        owner, guild.id, {"name": "staff-only", "permission_overwrites": [everyone_denied]}
    )


def test_root_redirects_members_to_the_app_and_shows_visitors_the_landing(client, owner):
    assert b"Get started" in client.get("/").content
    client.force_login(owner)
    assert client.get("/")["Location"] == "/app/"


def test_app_home_sends_a_new_user_to_onboarding_and_a_member_into_a_guild(
    browser, make_user, guild, general, owner
):
    newcomer = browser(make_user("newcomer"))
    assert newcomer.get("/app/")["Location"] == "/app/start/"
    page = newcomer.get("/app/start/").content.decode()
    assert "Join with an invite" in page and "Create a community" in page
    home = browser(owner).get("/app/", follow=True)
    assert home.redirect_chain[-1][0] == channel_url(guild, general)


def test_channel_page_renders_the_shell(browser, owner, guild, general, member):
    message_services.check_send_message(member, general.id, content="hello **world**")
    page = browser(owner).get(channel_url(guild, general))
    html = page.content.decode()
    assert page.status_code == 200
    assert "<strong>world</strong>" in html
    assert 'aria-label="Communities"' in html and 'aria-label="Members"' in html
    assert f'data-member data-user-id="{member.id}"' in html
    assert "Test Guild" in html and "#general" in html


def test_a_suspended_guild_leaves_the_rail_and_the_other_guilds_still_open(
    browser, make_user, owner, guild, general
):
    """A member of a guild the operator suspended keeps the rest of the client: the rail used
    to ask for the suspended guild's context and every page answered 404."""
    from guilds.services import guilds as guild_services
    from moderation.services.operators import do_suspend_guild

    arcade = guild_services.check_create_guild(owner, name="Old Arcade", description="")
    do_suspend_guild(make_user("oscar", is_superuser=True, is_staff=True), arcade, reason="spam")
    client = browser(owner)
    page = client.get(channel_url(guild, general))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Test Guild" in html and "Old Arcade" not in html
    assert client.get("/app/dms/").status_code == 200
    assert client.get(f"/app/guilds/{arcade.id}/")["Location"] == "/app/"


def test_hidden_channel_is_404_and_absent_from_lists(browser, owner, guild, general, member):
    secret = hidden_channel(owner, guild)
    bob = browser(member)
    assert bob.get(channel_url(guild, secret)).status_code == 404
    assert bob.get(f"/app/channels/{secret.id}/messages/").status_code == 404
    for url in (channel_url(guild, general), f"/app/guilds/{guild.id}/channels/"):
        assert "staff-only" not in bob.get(url).content.decode()
    assert "staff-only" not in bob.get("/app/switcher.json").content.decode()
    assert "staff-only" in browser(owner).get(f"/app/guilds/{guild.id}/channels/").content.decode()


def test_non_member_gets_404(browser, make_user, guild, general):
    stranger = browser(make_user("stranger"))
    assert stranger.get(channel_url(guild, general)).status_code == 404
    assert stranger.get(f"/app/guilds/{guild.id}/members/").status_code == 404


def test_send_with_nonce_is_not_duplicated_and_returns_the_fragment(browser, member, general):
    bob = browser(member)
    url = f"/app/channels/{general.id}/messages/send/"
    first = bob.post(url, {"content": "hi @everyone", "nonce": "n1"}, HTTP_HX_REQUEST="true")
    again = bob.post(url, {"content": "hi @everyone", "nonce": "n1"})
    assert first.status_code == 201 and again.status_code == 200
    assert 'class="msg' in first.content.decode()
    assert general.messages.count() == 1


def test_react_toggles_and_edit_and_delete(browser, member, general):
    message, _ = message_services.check_send_message(member, general.id, content="first")
    bob = browser(member)
    base = f"/app/channels/{general.id}/messages/{message.id}/"
    on = bob.post(base + "react/", {"emoji": "👍"}).content.decode()
    assert 'aria-pressed="true"' in on
    off = bob.post(base + "react/", {"emoji": "👍"}).content.decode()
    assert "👍" not in off.split("msg-tools")[0]
    edited = bob.post(base + "edit/", {"content": "second"}).content.decode()
    assert "second" in edited and "(edited)" in edited
    assert bob.post(base + "delete/").status_code == 200
    assert message_services.history(member, general.id)[0]["deleted"]


def test_others_cannot_edit_and_members_cannot_delete_others(browser, owner, member, general):
    message, _ = message_services.check_send_message(owner, general.id, content="mine")
    bob = browser(member)
    base = f"/app/channels/{general.id}/messages/{message.id}/"
    assert bob.post(base + "edit/", {"content": "x"}).status_code == 403
    assert bob.post(base + "delete/").status_code == 403


def test_older_page_has_a_sentinel_until_the_start(browser, member, general):
    ids = [
        message_services.check_send_message(member, general.id, content=f"m{i}")[0].id
        for i in range(55)
    ]
    bob = browser(member)
    page = bob.get(channel_url(general.guild, general)).content.decode()
    assert f"?before={ids[5]}" in page and 'hx-trigger="intersect once"' in page
    older = bob.get(f"/app/channels/{general.id}/messages/?before={ids[5]}").content.decode()
    assert "m4" in older and "m5<" not in older and "Welcome to #general" in older


def test_reply_quotes_the_original_and_mentions_are_chips(browser, owner, member, general):
    original, _ = message_services.check_send_message(owner, general.id, content="question")
    reply, _ = message_services.check_send_message(
        member, general.id, content=f"<@{owner.id}> answer", reply_to=original.id
    )
    html = (
        browser(owner)
        .get(f"/app/channels/{general.id}/messages/{reply.id}/fragment/")
        .content.decode()
    )
    assert f'data-jump-to="{original.id}"' in html
    assert '<span class="mention">@owner</span>' in html and "msg mentioned" in html


def test_pins_typing_and_read(browser, owner, general):
    message, _ = message_services.check_send_message(owner, general.id, content="pin me")
    me = browser(owner)
    base = f"/app/channels/{general.id}/"
    me.post(f"{base}messages/{message.id}/pin/", {"pinned": "1"})
    assert "pin me" in me.get(base + "pins/").content.decode()
    assert me.post(base + "typing/").status_code == 204
    assert me.post(base + "read/", {"message_id": message.id}).status_code == 204
    for bad in ("abc", "", str(2**64)):
        assert me.post(base + "read/", {"message_id": bad}).status_code == 400, bad
    assert me.post(base + "read/", {"message_id": str(message.id + 1)}).status_code == 404


def test_cannot_send_shows_a_disabled_composer(browser, owner, guild, general, member):
    from guilds.services.overwrites import check_put_overwrite

    check_put_overwrite(
        owner,
        general.id,
        guild.id,
        {"type": PermissionOverwrite.ROLE, "allow": "0", "deny": str(int(P.SEND_MESSAGES))},
    )
    html = browser(member).get(channel_url(guild, general)).content.decode()
    assert "You do not have permission to send messages" in html
    assert "data-composer-input" not in html


def test_onboarding_create_and_join_land_in_a_channel(browser, make_user, owner, general):
    code = invite_services.check_create_invite(owner, general.id, {}).code
    newcomer = browser(make_user("newcomer"))
    joined = newcomer.post("/app/start/join/", {"invite": f"http://node/invite/{code}"})
    assert joined["Location"] == channel_url(general.guild, general)
    created = newcomer.post("/app/start/create/", {"name": "My Place"}, follow=True)
    assert created.status_code == 200 and "My Place" in created.content.decode()
    bad = newcomer.post("/app/start/join/", {"invite": "nope-nope"})
    assert bad.status_code == 404 and "Unknown Invite" in bad.content.decode()


def test_an_invite_of_another_node_leads_to_the_federation_join_page(browser, make_user, client):
    """The join page is web's (web/views/federation.py) at the URL federation used to serve."""
    newcomer = browser(make_user("newcomer"))
    raw = "https://other.example/invite/abc123"
    sent = newcomer.post("/app/start/join/", {"invite": raw})
    assert sent.status_code == 302
    assert (
        sent["Location"]
        == "/app/federation/join/?invite=https%3A%2F%2Fother.example%2Finvite%2Fabc123"
    )
    page = newcomer.get("/app/federation/join/")
    assert page.status_code == 200 and "Join a guild on another node" in page.content.decode()
    assert newcomer.get("/app/federation/join/4242/").status_code == 404
    assert client.get("/app/federation/join/")["Location"].startswith("/login/")


def test_register_with_next_goes_there(client, db):
    response = client.post(
        "/register/?next=/app/",
        {"username": "carol", "password": "correct horse battery staple", "next": "/app/"},
    )
    assert response.status_code == 302 and response["Location"] == "/app/"


def test_private_channel_from_the_ui_and_invite(browser, owner, guild, member):
    me = browser(owner)
    made = me.post(
        f"/app/guilds/{guild.id}/channels/create/",
        {"name": "secret", "private": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert made.status_code == 204 and made["HX-Redirect"].startswith(f"/app/guilds/{guild.id}/")
    secret = guild.channels.get(name="secret")
    assert browser(member).get(channel_url(guild, secret)).status_code == 404
    invite = me.post(f"/app/channels/{secret.id}/invite/").content.decode()
    assert "/invite/" in invite
    denied = browser(member).post(f"/app/guilds/{guild.id}/channels/create/", {"name": "x"})
    assert denied.status_code == 403


def test_reactions_service_state_is_shown(browser, owner, member, general):
    message, _ = message_services.check_send_message(owner, general.id, content="react")
    reaction_services.check_add_reaction(member, general.id, message.id, "🎉")
    html = (
        browser(owner)
        .get(f"/app/channels/{general.id}/messages/{message.id}/fragment/")
        .content.decode()
    )
    assert 'data-react="🎉"' in html and 'aria-pressed="false"' in html


def test_a_group_dm_from_the_dm_page_lists_members_with_their_node(
    browser, owner, guild, member, make_user, settings
):
    """The DM page's group form takes names (name@node for other nodes: the live test in
    tests/federation/test_groupdms_live.py); the conversation lists each member with their
    node; its owner removes one and a member leaves, each with a button."""
    from guilds.services.members import do_add_member

    carol = make_user("carol")
    do_add_member(guild, carol)
    alice = browser(owner)
    unknown = alice.post("/app/dms/", {"members": "bob, nobody"})
    assert unknown.status_code == 400 and "No one here is called nobody" in unknown.text
    made = alice.post("/app/dms/", {"members": "bob, @carol", "name": "trio"})
    assert made.status_code == 302
    gid = made["Location"].rstrip("/").rsplit("/", 1)[-1]
    page = alice.get(made["Location"]).content.decode()
    for name in ("owner", "bob", "carol"):
        assert f"@{name} · {settings.FEDERATION_DOMAIN}" in page
    assert "Leave group" in page and "Remove carol from the group" in page
    assert "Remove" not in browser(member).get(made["Location"]).content.decode()
    assert alice.post(f"/app/dms/{gid}/remove/{carol.id}").status_code == 302
    assert browser(carol).get(made["Location"]).status_code == 404
    assert browser(member).post(f"/app/dms/{gid}/leave").status_code == 302
    page = alice.get(made["Location"]).content.decode()
    assert "@bob ·" not in page and "@owner ·" in page
