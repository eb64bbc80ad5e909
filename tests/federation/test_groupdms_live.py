"""Group DMs across nodes on two real nodes: alice and bob of A, carol of B (a member of
alice's guild through B). alice makes the group on A (its authority); all three write to it
end-to-end encrypted (Python clients from united_client.e2e); carol leaves on B, and from then
on nothing for her is sent or stored and her device cannot read what follows, while bob does;
membership changes that are unsigned, or signed by a node that is not the group's authority,
change nothing; a group of 11 is refused; no database holds any plaintext."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.browser import axe_violations, bundle, launch  # noqa: F401  (bundle: a fixture)
from tests.federation.conftest import FedNode
from tests.federation.test_guilds_live import e2e_client, plaintext_anywhere
from tests.worlds import PASSWORD, join_guild, live_nodes
from tests.worlds import signed_in as client
from united_client.e2e.errors import DecryptError, E2EError

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("groupdms_live"), pytest.mark.timeout(900)]

TEXTS = {
    "alice": "alice to the trio 3f8a",
    "carol": "carol from the other node b71e",
    "bob": "bob answers both 0c42",
    "after": "after carol left 9d15",
}


@pytest.fixture(scope="module")
def nodes(tmp_path_factory) -> Iterator[dict[str, FedNode]]:
    with live_nodes(tmp_path_factory.mktemp("gdm"), ["a", "b"]) as (a, b):
        code = a.python(
            "from accounts.models import User\n"
            "from guilds.services.guilds import do_create_guild\n"
            "from guilds.services.invites import check_create_invite\n"
            "from guilds.services.members import do_add_member\n"
            "from guilds.models import Channel\n"
            f"alice = User.objects.create_user('alice', password={PASSWORD!r})\n"
            f"bob = User.objects.create_user('bob', password={PASSWORD!r})\n"
            "g = do_create_guild(alice, name='Harbour', icon=None, description='')\n"
            "do_add_member(g, bob)\n"
            "ch = Channel.objects.get(guild=g, type=0, name='general')\n"
            "print(check_create_invite(alice, ch.id, {'max_age': 0}).code)\n"
        ).split()[-1]
        b.node.create_user("carol", PASSWORD)
        join_guild(b, "carol", f"{a.url}/invite/{code}")
        # carol's node must know alice (the group's owner) as a fellow member before it takes
        # a group from her: B's replica of the guild lists her once A's state arrived.
        b.wait_for(
            lambda: (
                b.sql("SELECT 1 FROM accounts_user WHERE username = ?", (f"alice@{a.domain}",))
                and b.sql(
                    "SELECT 1 FROM guilds_member m JOIN accounts_user u ON u.id = m.user_id "
                    "WHERE u.username = ?",
                    (f"alice@{a.domain}",),
                )
            ),
            message="alice in B's replica",
        )
        yield {"a": a, "b": b}


def say(sender, fed: FedNode, gid: int, to: list[str], text: str) -> None:
    try:
        sender.send(str(gid), to, text)
    except E2EError as exc:
        raise AssertionError(f"{exc}\n--- node {fed.node.name}:\n{fed.logs()}") from None


def members(fed: FedNode, channel_id: int) -> set[str]:
    """The group's members as that node keeps them (its own users by name, others name@node)."""
    rows = fed.sql(
        "SELECT u.username FROM guilds_channel_recipients r JOIN accounts_user u "
        "ON u.id = r.user_id WHERE r.channel_id = ?",
        (channel_id,),
    )
    return {r[0] for r in rows}


def group_row(fed: FedNode, gid: int) -> tuple[int, list[str]] | None:
    """(version, leaving) of the node's copy of the group (JSON is text on SQLite)."""
    rows = fed.sql(
        "SELECT version, leaving FROM federation_federatedgroup WHERE channel_id = ?", (gid,)
    )
    if not rows:
        return None
    version, leaving = rows[0]
    return version, json.loads(leaving) if isinstance(leaving, str) else leaving


def user_id(fed: FedNode, username: str) -> str:
    return str(fed.sql("SELECT id FROM accounts_user WHERE username = ?", (username,))[0][0])


def copies_for(fed: FedNode, username: str) -> int:
    return fed.sql(
        "SELECT COUNT(*) FROM e2e_envelopecopy c JOIN accounts_user u ON u.id = c.user_id "
        "WHERE u.username = ?",
        (username,),
    )[0][0]


def test_a_group_across_two_nodes_and_a_member_who_leaves(nodes):
    a, b = nodes["a"], nodes["b"]
    carol_at, alice_at, bob_at = f"carol@{b.domain}", f"alice@{a.domain}", f"bob@{a.domain}"
    with client(a, "alice") as ah, client(a, "bob") as bh, client(b, "carol") as ch:
        alice, bob, carol = e2e_client(ah), e2e_client(bh), e2e_client(ch)
        # Eleven people are too many, whoever they are (counted before any is looked up).
        crowd = [user_id(a, "bob"), carol_at] + [f"p{n}@{b.domain}" for n in range(9)]
        big = ah.post("/api/v1/users/@me/channels", json={"recipients": crowd})
        assert big.status_code == 400, big.text
        assert "At most 10 people" in json.dumps(big.json()["errors"])

        made = ah.post(
            "/api/v1/users/@me/channels",
            json={"recipients": [user_id(a, "bob"), carol_at], "name": "trio"},
        )
        assert made.status_code == 200, made.text
        group = made.json()
        gid = int(group["id"])
        assert group["type"] == 3
        assert {u["username"] for u in group["recipients"]} == {"alice", "bob", carol_at}
        # B made the same group (same id: it is bound into every ciphertext) from A's signed
        # state, with alice and bob as name@A.
        b.wait_for(lambda: members(b, gid) == {"carol", alice_at, bob_at}, 90, "the group on B")
        (on_b,) = [d for d in ch.get("/api/v1/users/@me/channels").json() if d["id"] == str(gid)]
        assert on_b["name"] == "trio" and on_b["type"] == 3

        carol_on_a = user_id(a, carol_at)
        alice_on_b, bob_on_b = user_id(b, alice_at), user_id(b, bob_at)
        say(alice, a, gid, [user_id(a, "bob"), carol_on_a], TEXTS["alice"])
        b.wait_for(lambda: copies_for(b, "carol") >= 1, 90, "alice's envelope on B")
        assert carol.read(str(gid)) == [TEXTS["alice"]]
        assert bob.read(str(gid)) == [TEXTS["alice"]]

        # carol writes from B: one envelope, relayed to A once per member there, stored once.
        say(carol, b, gid, [alice_on_b, bob_on_b], TEXTS["carol"])
        a.wait_for(
            lambda: copies_for(a, "alice") >= 1 and copies_for(a, "bob") >= 2,
            90,
            "carol's envelope on A",
        )
        assert a.sql(
            "SELECT COUNT(*) FROM e2e_envelope e JOIN accounts_user u ON u.id = e.sender_id "
            "WHERE u.username = ?",
            (carol_at,),
        ) == [(1,)]
        assert alice.read(str(gid)) == [TEXTS["carol"]]
        assert bob.read(str(gid)) == [TEXTS["carol"]]

        say(bob, a, gid, [user_id(a, "alice"), carol_on_a], TEXTS["bob"])
        b.wait_for(lambda: copies_for(b, "carol") >= 2, 90, "bob's envelope on B")
        assert carol.read(str(gid)) == [TEXTS["bob"]]
        assert alice.read(str(gid)) == [TEXTS["bob"]]

        # carol leaves on her node: B drops her at once and tells A (the authority), whose
        # next state (v2, without her) reaches B.
        left = ch.delete(f"/api/v1/channels/{gid}/recipients/@me")
        assert left.status_code == 204, left.text
        assert members(b, gid) == {alice_at, bob_at}
        a.wait_for(lambda: members(a, gid) == {"alice", "bob"}, 90, "carol's leave on A")
        b.wait_for(lambda: group_row(b, gid) == (2, []), 90, "A's state v2 on B")
        assert ch.get(f"/api/v1/channels/{gid}/envelopes?device_id=1").status_code == 404

        # A client that still encrypts for her is refused by its own node, nothing stored.
        stored = a.sql("SELECT COUNT(*) FROM e2e_envelope")[0][0]
        with pytest.raises(E2EError, match="Not a recipient"):
            bob.send(str(gid), [user_id(a, "alice"), carol_on_a], "for carol too?")
        assert a.sql("SELECT COUNT(*) FROM e2e_envelope")[0][0] == stored

        relayed = a.sql("SELECT COUNT(*) FROM federation_activity WHERE type = 'DeviceMessage'")
        carol_copies = copies_for(b, "carol")
        say(alice, a, gid, [user_id(a, "bob")], TEXTS["after"])
        assert bob.read(str(gid)) == [TEXTS["after"]]
        # Nothing left A for carol, and B stored nothing more for her.
        assert (
            a.sql("SELECT COUNT(*) FROM federation_activity WHERE type = 'DeviceMessage'")
            == relayed
        )
        assert copies_for(b, "carol") == carol_copies
        (after,) = [
            e for e in bob.history(str(gid)) if e["sender"]["user_id"] == user_id(a, "alice")
        ][-1:]
        assert {c["device_id"] for c in after["copies"]} == {bob.device.device_id}
        with pytest.raises(DecryptError):  # not a copy for her device: nothing she can open
            carol.device.decrypt(after)

    forged_unsigned(a, b, gid)
    forged_by_a_node_that_is_not_the_authority(a, b, gid)
    assert members(a, gid) == {"alice", "bob"}
    assert members(b, gid) == {alice_at, bob_at}

    # No database holds any plaintext (the scanner does see stored text).
    for fed in (a, b):
        assert plaintext_anywhere(fed, list(TEXTS.values())) == [], fed.node.name
    assert plaintext_anywhere(b, [carol_at.split("@")[0], "trio"])


def state(a: FedNode, b: FedNode, gid: int) -> dict:
    """A's last state of the group as B received it, with carol put back and a newer version."""
    payloads = [
        json.loads(raw) if isinstance(raw, str) else raw  # JSON is text on SQLite
        for (raw,) in b.sql(
            "SELECT payload FROM federation_inboxitem WHERE type = 'Update' ORDER BY id"
        )
    ]
    (doc,) = [
        p["object"]
        for p in payloads
        if isinstance(p.get("object"), dict) and p["object"].get("channelId") == str(gid)
    ][-1:]
    return {**doc, "revision": 99, "members": [*doc["members"], f"{b.url}/users/carol"]}


def forged_unsigned(a: FedNode, b: FedNode, gid: int) -> None:
    import httpx

    doc = state(a, b, gid)
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{a.url}/activities/forged-unsigned",
        "type": "Update",
        "actor": f"{a.url}/actor",
        "to": [f"{b.url}/users/carol"],
        "object": doc,
    }
    for inbox in (f"{b.url}/inbox", f"{b.url}/users/carol/inbox"):
        answer = httpx.post(
            inbox,
            content=json.dumps(activity),
            headers={"Content-Type": "application/activity+json"},
            timeout=30,
        )
        assert answer.status_code == 401, (inbox, answer.status_code, answer.text)
    assert not b.sql("SELECT 1 FROM federation_inboxitem WHERE activity_uri = ?", (activity["id"],))


def forge(a: FedNode, b: FedNode, doc: dict) -> str:
    """B's node signs an Update of a group state and delivers it to A; its activity id."""
    return b.python(
        "import json\n"
        "from django.db import transaction\n"
        "from federation import activities, actors, delivery, remote\n"
        f"target = remote.fetch_actor({a.url + '/actor'!r})\n"
        f"doc = json.loads({json.dumps(doc)!r})\n"
        "with transaction.atomic():\n"
        "    act = activities.minimal({'@context': [activities.AS2_CONTEXT,"
        " actors.GROUP_DM_CONTEXT], 'id': activities.new_activity_uri(), 'type': 'Update',"
        " 'actor': actors.node_actor_uri(), 'to': [target.uri], 'object': doc})\n"
        "    delivery.fan_out(act, [target])\n"
        "print(act['id'])\n"
    ).split()[-1]


def forged_by_a_node_that_is_not_the_authority(a: FedNode, b: FedNode, gid: int) -> None:
    """B's node signs states of A's group (carol back in, a newer version) and sends them."""
    doc = state(a, b, gid)
    # As A's own object: A's inbox refuses an Update of an object on another origin.
    as_a = forge(a, b, doc)
    b.wait_for(
        lambda: (
            b.sql(
                "SELECT d.state, d.last_status FROM federation_delivery d "
                "JOIN federation_activity x ON x.id = d.activity_id WHERE x.uri = ?",
                (as_a,),
            )
            == [("dead", 403)]
        ),
        90,
        "A refusing the forged state at its door",
    )
    assert a.sql(
        "SELECT reason FROM federation_inboxrejection WHERE activity_uri = ?", (as_a,)
    ) == [("object_origin",)]
    # As B's own object naming A's group: it passes the door, and the group's authority
    # (A's node, recorded when the group was made) is not its signer, so nothing changes.
    as_b = forge(a, b, {**doc, "id": doc["id"].replace(a.url, b.url)})
    a.wait_for(
        lambda: a.sql(
            "SELECT 1 FROM federation_inboxitem WHERE activity_uri = ? AND state != 'received'",
            (as_b,),
        ),
        90,
        "the forged state processed on A",
    )
    ((outcome, detail),) = a.sql(
        "SELECT state, detail FROM federation_inboxitem WHERE activity_uri = ?", (as_b,)
    )
    assert outcome == "failed" and "not from the group's authority" in detail, detail
    assert group_row(a, gid) == (2, [])


def test_a_group_started_from_the_web_ui_with_a_member_of_another_node(
    nodes,
    bundle,  # noqa: F811
):
    """Playwright + Chromium on A: dora starts a group with `bob, erin@B` from the DM page,
    sees each member with their node, writes (her browser encrypts); erin (Python client on
    B) reads it and answers, the browser shows the answer; dora leaves with the button and
    B's copy of the group no longer has her."""
    sync_api = pytest.importorskip("playwright.sync_api")
    a, b = nodes["a"], nodes["b"]
    a.python(
        "from accounts.models import User\n"
        "from guilds.models import Guild\n"
        "from guilds.services.members import do_add_member\n"
        f"dora = User.objects.create_user('dora', password={PASSWORD!r})\n"
        "do_add_member(Guild.objects.get(name='Harbour'), dora)\n"
    )
    b.node.create_user("erin", PASSWORD)
    code = a.sql("SELECT code FROM guilds_invite")[0][0]
    join_guild(b, "erin", f"{a.url}/invite/{code}")
    a.wait_for(
        lambda: a.sql(
            "SELECT 1 FROM guilds_member m JOIN accounts_user u ON u.id = m.user_id "
            "WHERE u.username = ?",
            (f"erin@{b.domain}",),
        ),
        90,
        "erin in A's guild",
    )
    b.wait_for(
        lambda: b.sql(
            "SELECT 1 FROM guilds_member m JOIN accounts_user u ON u.id = m.user_id "
            "WHERE u.username = ?",
            (f"dora@{a.domain}",),
        ),
        90,
        "dora in B's replica",
    )
    text, answer = "dora's browser to the group 61c0", "erin answers from B 7e2a"
    with sync_api.sync_playwright() as p, client(b, "erin") as eh:
        erin = e2e_client(eh)
        browser = launch(p)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{a.url}/login/?next=/app/dms/")
        page.fill("#id_username", "dora")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.click("[data-new-dm-open]")  # the sidebar's "New message" dialog
        page.wait_for_selector("#dm-group-members")
        # Eleven people: refused with the reason, no conversation made.
        page.fill("#dm-group-members", " ".join(f"x{n}@{b.domain}" for n in range(10)))
        page.click("[data-dm-group-form] button[type=submit]")
        page.wait_for_selector("#dm-group-error")  # in the dialog, open again with the reason
        assert "At most 10 people" in page.inner_text("#dm-group-error")
        page.fill("#dm-group-members", f"bob, erin@{b.domain}")
        page.fill("#dm-group-name", "web trio")
        page.click("[data-dm-group-form] button[type=submit]")
        page.wait_for_selector("[data-e2e-pane][data-e2e-ready=true]")
        gid = page.get_attribute("[data-e2e-pane]", "data-channel-id")
        shown = page.inner_text("[data-dm-members]")
        assert f"@erin · {b.domain}" in shown and f"@bob · {a.domain}" in shown, shown
        assert f"@dora · {a.domain}" in shown and "(owner)" in shown, shown
        assert axe_violations(page, impacts={"serious", "critical"}) == []
        page.fill("#composer-input", text)
        page.keyboard.press("Enter")
        b.wait_for(lambda: copies_for(b, "erin") >= 1, 90, "dora's envelope on B")
        assert erin.read(gid) == [text]
        dora_on_b, bob_on_b = user_id(b, f"dora@{a.domain}"), user_id(b, f"bob@{a.domain}")
        say(erin, b, int(gid), [dora_on_b, bob_on_b], answer)
        page.wait_for_selector(f"[data-message]:has-text('{answer}')")
        page.click("[data-dm-leave]")
        page.wait_for_url(f"{a.url}/app/dms/")
        assert page.locator(f"[data-dm-link='{gid}']").count() == 0
        browser.close()
    b.wait_for(lambda: members(b, int(gid)) == {"erin", f"bob@{a.domain}"}, 90, "dora's leave on B")
    assert members(a, int(gid)) == {"bob", f"erin@{b.domain}"}
    for fed in (a, b):
        assert plaintext_anywhere(fed, [text, answer]) == [], fed.node.name
