"""Threads in the chat client through Django's test client: the panel page, the list, the
Create thread dialog's view, Follow, and who may reach them."""

from __future__ import annotations

import re

from guilds.models import ChannelType, PermissionOverwrite
from guilds.permissions import Permissions as P
from guilds.services import overwrites as overwrite_services
from messaging.models import ThreadFollow
from messaging.services import messages as message_services
from tests.web.test_views import channel_url, hidden_channel


def thread_of(owner, general, content="Shall we move the launch to Friday?", name="Launch"):
    starter, _ = message_services.check_send_message(owner, general.id, content=content)
    thread = message_services.check_start_thread(owner, general.id, starter.id, name=name)
    return starter, thread


def test_create_thread_from_the_message_menu(browser, owner, guild, general, member):
    starter, _ = message_services.check_send_message(member, general.id, content="idea")
    page = browser(owner).get(channel_url(guild, general)).content.decode()
    assert f'data-start-url="/app/channels/{general.id}/messages/{starter.id}/thread/"' in page
    made = browser(owner).post(
        f"/app/channels/{general.id}/messages/{starter.id}/thread/", {"name": "Idea"}
    )
    assert made.status_code == 204
    starter.refresh_from_db()
    thread = starter.thread
    assert thread.type == ChannelType.PUBLIC_THREAD and thread.name == "Idea"
    assert made["HX-Redirect"] == channel_url(guild, general) + f"threads/{thread.id}/"
    assert ThreadFollow.objects.filter(thread=thread, user=owner).exists()
    # Once it has a thread, the message offers a link to it, not a second "Create thread".
    page = browser(owner).get(channel_url(guild, general)).content.decode()
    assert f'data-thread-link="{thread.id}"' in page and "0 replies" in page
    assert f"/messages/{starter.id}/thread/" not in page


def test_create_thread_refusals_are_shown_not_500(browser, owner, guild, general, member):
    starter, _ = message_services.check_send_message(member, general.id, content="idea")
    url = f"/app/channels/{general.id}/messages/{starter.id}/thread/"
    blank = browser(owner).post(url, {"name": "   "})
    assert blank.status_code == 400 and "1 to 100 characters" in blank.content.decode()
    long = browser(owner).post(url, {"name": "x" * 101})
    assert long.status_code == 400
    browser(owner).post(url, {"name": "first"})
    again = browser(owner).post(url, {"name": "second"})
    assert again.status_code == 400 and "already been created" in again.content.decode()
    missing = browser(owner).post(f"/app/channels/{general.id}/messages/1/thread/", {"name": "x"})
    assert missing.status_code == 404
    assert browser(owner).get(url).status_code == 405


def test_without_create_public_threads_there_is_no_menu_entry(
    browser, owner, guild, general, member
):
    overwrite_services.check_put_overwrite(
        owner,
        general.id,
        guild.id,
        {"type": PermissionOverwrite.ROLE, "deny": str(int(P.CREATE_PUBLIC_THREADS))},
    )
    starter, _ = message_services.check_send_message(owner, general.id, content="idea")
    page = browser(member).get(channel_url(guild, general)).content.decode()
    assert 'data-action="thread"' not in page
    refused = browser(member).post(
        f"/app/channels/{general.id}/messages/{starter.id}/thread/", {"name": "mine"}
    )
    assert refused.status_code == 403
    # The owner (an administrator) still has it.
    assert (
        'data-action="thread"' in browser(owner).get(channel_url(guild, general)).content.decode()
    )


def test_the_panel_page_shows_channel_and_thread(browser, owner, guild, general, member):
    starter, thread = thread_of(owner, general)
    message_services.check_send_message(member, thread.id, content="Friday works")
    url = channel_url(guild, general) + f"threads/{thread.id}/"
    page = browser(owner).get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'class="shell threading"' in html and "data-thread-pane" in html
    # The channel stays: its messages (the starter among them) and its composer.
    assert f'id="message-{starter.id}"' in html and 'id="composer-input"' in html
    # The panel: the starter quoted, the reply, its own composer posting to the thread.
    panel = html[html.index("data-thread-pane") :]
    assert "Shall we move the launch to Friday?" in panel and "Friday works" in panel
    assert f'action="/app/channels/{thread.id}/messages/send/"' in panel
    assert 'id="thread-composer-input"' in panel
    # alice follows (she started it) and bob's reply is unread for her: the divider shows.
    assert ">Unfollow<" in panel and "unread-sep" in panel
    # One id per element across both panes.
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_panel_refuses_who_cannot_see_and_foreign_threads(
    browser, owner, guild, general, member, make_user
):
    from guilds.services import members as member_services

    _, thread = thread_of(owner, general)
    staff = hidden_channel(owner, guild)
    _, staff_thread = thread_of(owner, staff, content="secret", name="Secret")
    outsider = make_user("mallory")
    # Not a member at all; a member who cannot see the channel; a thread of another channel.
    assert (
        browser(outsider).get(channel_url(guild, general) + f"threads/{thread.id}/").status_code
        == 404
    )
    assert (
        browser(member).get(channel_url(guild, staff) + f"threads/{staff_thread.id}/").status_code
        == 404
    )
    assert (
        browser(member).get(channel_url(guild, general) + f"threads/{staff_thread.id}/").status_code
        == 404
    )
    # A channel id where a thread id belongs.
    assert (
        browser(owner).get(channel_url(guild, general) + f"threads/{general.id}/").status_code
        == 404
    )
    assert browser(member).get(f"/app/channels/{staff.id}/threads/").status_code == 404
    assert (
        browser(member)
        .post(f"/app/channels/{staff_thread.id}/follow/", {"following": "1"})
        .status_code
        == 404
    )
    member_services.do_add_member(guild, outsider)
    assert (
        browser(outsider).get(channel_url(guild, general) + f"threads/{thread.id}/").status_code
        == 200
    )


def test_thread_list_and_follow_button(browser, owner, guild, general, member):
    from messaging.services.readstates import check_mark_read

    starter, thread = thread_of(owner, general)
    check_mark_read(member, general.id, starter.id)  # the channel itself is read
    listing = browser(member).get(f"/app/channels/{general.id}/threads/").content.decode()
    assert "Launch" in listing and "Active" in listing and "0 replies" in listing
    assert "following" not in listing
    followed = browser(member).post(f"/app/channels/{thread.id}/follow/", {"following": "1"})
    assert followed.status_code == 200 and ">Unfollow<" in followed.content.decode()
    assert ThreadFollow.objects.filter(thread=thread, user=member).exists()
    message_services.check_send_message(owner, thread.id, content="news")
    listing = browser(member).get(f"/app/channels/{general.id}/threads/").content.decode()
    assert "1 reply" in listing and "· following" in listing and "data-thread-unread" in listing
    page = browser(member).get(channel_url(guild, general)).content.decode()
    assert re.search(rf'class="thread-link unread"[^>]*data-thread-link="{thread.id}"', page)
    # The channel in the sidebar says a followed thread has unread replies.
    assert "unread thread replies" in page
    unfollowed = browser(member).post(f"/app/channels/{thread.id}/follow/", {"following": "0"})
    assert ">Follow<" in unfollowed.content.decode()
    assert not ThreadFollow.objects.filter(thread=thread, user=member).exists()
    empty = browser(member).get(f"/app/channels/{thread.id}/threads/")
    assert empty.status_code == 400
