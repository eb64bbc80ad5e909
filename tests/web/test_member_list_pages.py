"""The member list a page at a time: Discord's order and group counts, the next page loaded as
the list scrolls, a fixed number of queries whatever the guild's size, the order following
nicknames and display names."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import check_update_profile
from guilds.models import Member
from guilds.services import member_list as member_list_services
from guilds.services import members as member_services
from guilds.services import roles as role_services
from messaging import presence

pytestmark = pytest.mark.django_db


@pytest.fixture
def online():
    """Mark users as connected to this node, as the gateway does; undone after the test."""
    marked: list = []

    def mark(*users):
        for user in users:
            presence.store().connect(user.id, f"test-{user.id}")
            marked.append(user)

    yield mark
    for user in marked:
        presence.store().disconnect(user.id, f"test-{user.id}")


def url(guild, start: int | None = None) -> str:
    base = f"/app/guilds/{guild.id}/members/"
    return base if start is None else f"{base}?start={start}"


def headers(html: str) -> list[str]:
    return [h.strip() for h in re.findall(r'class="member-group-title">([^<]+)</h3>', html)]


def names(html: str) -> list[str]:
    return re.findall(r'data-member data-user-id="\d+" data-name="([^"]+)"', html)


def next_start(html: str) -> int | None:
    found = re.search(r"\?start=(\d+)\"", html)
    return int(found.group(1)) if found else None


def add_members(guild, make_user, count: int, prefix: str = "m") -> list:
    users = []
    for n in range(count):
        user = make_user(f"{prefix}{n:03d}")
        member_services.do_add_member(guild, user)
        users.append(user)
    return users


def test_pages_follow_discords_order_with_group_counts(
    guild, owner, make_user, browser, online, monkeypatch
):
    monkeypatch.setattr(member_list_services, "PAGE_SIZE", 4)
    staff = role_services.check_create_role(owner, guild.id, {"name": "Staff", "hoist": True})
    users = add_members(guild, make_user, 9)
    member_services.check_member_role(owner, guild.id, users[8].id, staff.id, add=True)
    online(owner, users[8], users[1])
    client = browser(owner)

    first = client.get(url(guild)).content.decode()
    assert headers(first) == ["Staff — 1", "Online — 2", "Offline — 7"]
    assert names(first) == ["m008", "m001", "owner", "m000"]
    seen, start = names(first), next_start(first)
    while start is not None:
        page = client.get(url(guild, start)).content.decode()
        # A page that continues a group shows no second header for it.
        assert "member-group-title" not in page
        seen += names(page)
        start = next_start(page)
    assert seen == ["m008", "m001", "owner"] + [f"m{n:03d}" for n in (0, 2, 3, 4, 5, 6, 7)]


def test_a_page_costs_the_same_queries_whatever_the_guild_size(
    guild, owner, make_user, browser, online
):
    client = browser(owner)
    online(owner)

    def count() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url(guild))
        assert response.status_code == 200
        return len(queries), response.content.decode()

    add_members(guild, make_user, 3)
    small, _ = count()
    add_members(guild, make_user, 150, prefix="n")
    large, html = count()
    assert large == small, f"{small} queries with 4 members, {large} with 154"
    assert headers(html) == ["Online — 1", "Offline — 153"]
    assert len(names(html)) == 100
    assert next_start(html) == 100
    assert "Show more members" in html


def test_a_bad_start_is_refused_with_400(guild, owner, browser):
    response = browser(owner).get(url(guild) + "?start=-3")
    assert response.status_code == 400


def test_the_order_follows_nicknames_and_display_names(guild, owner, make_user, browser):
    zed = make_user("zed")
    member_services.do_add_member(guild, zed)
    amy = make_user("amy")
    member_services.do_add_member(guild, amy)
    client = browser(owner)
    assert names(client.get(url(guild)).content.decode()) == ["amy", "owner", "zed"]

    check_update_profile(zed, display_name="Aaron")
    member_services.check_update_member(owner, guild.id, amy.id, {"nick": "Zoe"})
    assert names(client.get(url(guild)).content.decode()) == ["Aaron", "owner", "Zoe"]
    assert Member.objects.get(guild=guild, user=zed).sort_name == "aaron"


def test_an_operator_renaming_a_member_in_the_admin_moves_them(guild, owner, make_user, browser):
    from types import SimpleNamespace

    from django.contrib import admin
    from django.test import RequestFactory

    from accounts.models import User

    zed = make_user("zed")
    member_services.do_add_member(guild, zed)
    client = browser(owner)
    assert names(client.get(url(guild)).content.decode()) == ["owner", "zed"]

    zed.display_name = "Aaron"
    model_admin = admin.site._registry[User]
    request = RequestFactory().post("/admin/accounts/user/")
    request.user = owner
    model_admin.save_model(request, zed, SimpleNamespace(changed_data=["display_name"]), True)
    assert Member.objects.get(guild=guild, user=zed).sort_name == "aaron"
    assert names(client.get(url(guild)).content.decode()) == ["Aaron", "owner"]
