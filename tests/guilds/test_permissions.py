"""The pure permission function against Discord's documented algorithm."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guilds import permissions as perms
from guilds.permissions import ALL, OVERWRITE_MEMBER, OVERWRITE_ROLE, Overwrite
from guilds.permissions import Permissions as P

pytestmark = pytest.mark.mode_independent

GUILD = 1000
OWNER = 1
ME = 2
MOD = 10  # role ids
HELPER = 11

VIEW = int(P.VIEW_CHANNEL)
SEND = int(P.SEND_MESSAGES)
READ = int(P.READ_MESSAGE_HISTORY)
BASIC = VIEW | SEND | READ


def compute(
    *,
    everyone: int = BASIC,
    roles: dict[int, int] | None = None,
    mine: tuple[int, ...] = (),
    overwrites: list[Overwrite] | None = None,
    member: int = ME,
    text: bool = False,
) -> int:
    table = {GUILD: everyone, **(roles or {})}
    return perms.compute_permissions(
        guild_id=GUILD,
        owner_id=OWNER,
        member_id=member,
        member_role_ids=mine,
        role_permissions=table,
        overwrites=overwrites,
        text_channel=text,
    )


def test_bit_values_are_discords():
    assert P.CREATE_INSTANT_INVITE == 1
    assert P.ADMINISTRATOR == 8
    assert P.VIEW_CHANNEL == 1024
    assert P.SEND_MESSAGES == 2048
    assert P.MANAGE_MESSAGES == 8192
    assert P.MENTION_EVERYONE == 131072
    assert P.CONNECT == 1 << 20
    assert P.MANAGE_ROLES == 268435456
    assert P.MODERATE_MEMBERS == 1099511627776
    assert P.SEND_POLLS == 1 << 49
    assert P.PIN_MESSAGES == 1 << 51
    assert ALL == sum(int(f) for f in P)


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("everyone only", {}, BASIC),
        (
            "roles add up",
            {"roles": {MOD: int(P.KICK_MEMBERS)}, "mine": (MOD,)},
            BASIC | int(P.KICK_MEMBERS),
        ),
        ("role not held does nothing", {"roles": {MOD: int(P.KICK_MEMBERS)}}, BASIC),
        (
            "administrator is everything",
            {"roles": {MOD: int(P.ADMINISTRATOR)}, "mine": (MOD,)},
            ALL,
        ),
        ("owner is everything", {"everyone": 0, "member": OWNER}, ALL),
        ("unknown role ids are ignored", {"mine": (999,)}, BASIC),
    ],
)
def test_base_permissions(name, kwargs, expected):
    assert compute(**kwargs) == expected, name


R = OVERWRITE_ROLE
M = OVERWRITE_MEMBER
KICK = int(P.KICK_MEMBERS)
MANAGE = int(P.MANAGE_MESSAGES)


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("no overwrites", {"overwrites": []}, BASIC),
        ("@everyone deny send", {"overwrites": [Overwrite(GUILD, R, deny=SEND)]}, VIEW | READ),
        (
            "@everyone deny, role allow wins",
            {
                "roles": {MOD: 0},
                "mine": (MOD,),
                "overwrites": [Overwrite(GUILD, R, deny=SEND), Overwrite(MOD, R, allow=SEND)],
            },
            BASIC,
        ),
        (
            "role allow on a role not held does nothing",
            {
                "roles": {MOD: 0},
                "overwrites": [Overwrite(GUILD, R, deny=SEND), Overwrite(MOD, R, allow=SEND)],
            },
            VIEW | READ,
        ),
        (
            "role overwrites combine: allow beats deny of another role",
            {
                "roles": {MOD: 0, HELPER: 0},
                "mine": (MOD, HELPER),
                "overwrites": [Overwrite(MOD, R, deny=SEND), Overwrite(HELPER, R, allow=SEND)],
            },
            BASIC,
        ),
        (
            "member overwrite beats role overwrite (deny)",
            {
                "roles": {MOD: 0},
                "mine": (MOD,),
                "overwrites": [Overwrite(MOD, R, allow=MANAGE), Overwrite(ME, M, deny=MANAGE)],
            },
            BASIC,
        ),
        (
            "member overwrite beats role overwrite (allow)",
            {
                "roles": {MOD: 0},
                "mine": (MOD,),
                "overwrites": [Overwrite(MOD, R, deny=SEND), Overwrite(ME, M, allow=SEND)],
            },
            BASIC,
        ),
        (
            "someone else's member overwrite does nothing",
            {"overwrites": [Overwrite(OWNER, M, deny=SEND)]},
            BASIC,
        ),
        (
            "@everyone allow adds",
            {"overwrites": [Overwrite(GUILD, R, allow=MANAGE)]},
            BASIC | MANAGE,
        ),
        ("no VIEW_CHANNEL is nothing at all", {"overwrites": [Overwrite(GUILD, R, deny=VIEW)]}, 0),
        (
            "VIEW_CHANNEL given back by role",
            {
                "roles": {MOD: 0},
                "mine": (MOD,),
                "overwrites": [Overwrite(GUILD, R, deny=VIEW), Overwrite(MOD, R, allow=VIEW)],
            },
            BASIC,
        ),
        (
            "VIEW_CHANNEL denied to the member personally",
            {
                "roles": {MOD: 0},
                "mine": (MOD,),
                "overwrites": [Overwrite(MOD, R, allow=VIEW), Overwrite(ME, M, deny=VIEW)],
            },
            0,
        ),
        (
            "administrator ignores overwrites",
            {
                "roles": {MOD: int(P.ADMINISTRATOR)},
                "mine": (MOD,),
                "overwrites": [Overwrite(GUILD, R, deny=VIEW), Overwrite(ME, M, deny=ALL)],
            },
            ALL,
        ),
        (
            "owner ignores overwrites",
            {"member": OWNER, "overwrites": [Overwrite(OWNER, M, deny=ALL)]},
            ALL,
        ),
        (
            "guild-level permission can be removed in a channel",
            {"roles": {MOD: KICK}, "mine": (MOD,), "overwrites": [Overwrite(MOD, R, deny=KICK)]},
            BASIC,
        ),
        (
            "text channel without SEND loses mention-everyone, embeds, files",
            {
                "everyone": BASIC | int(P.MENTION_EVERYONE | P.EMBED_LINKS | P.ATTACH_FILES),
                "text": True,
                "overwrites": [Overwrite(GUILD, R, deny=SEND)],
            },
            VIEW | READ,
        ),
        (
            "voice channel keeps them",
            {"everyone": VIEW | int(P.ATTACH_FILES), "overwrites": []},
            VIEW | int(P.ATTACH_FILES),
        ),
    ],
)
def test_channel_permissions(name, kwargs, expected):
    assert compute(**kwargs) == expected, name


def test_synced_channel_uses_its_category_overwrites():
    category = [Overwrite(GUILD, R, deny=VIEW)]
    own = [Overwrite(GUILD, R, allow=SEND)]
    assert perms.effective_overwrites(own, category, synced=True) == category
    assert perms.effective_overwrites(own, category, synced=False) == own
    assert perms.effective_overwrites(own, None, synced=True) == own
    assert compute(overwrites=perms.effective_overwrites([], category, synced=True)) == 0


@pytest.mark.parametrize("value", ["8", 8, "0", str(ALL)])
def test_parse_bitfield_accepts(value):
    assert perms.parse_bitfield(value) == int(value)


@pytest.mark.parametrize("value", ["-1", -1, "x", "1.5", True, None, str(1 << 60), "٣"])
def test_parse_bitfield_rejects(value):
    with pytest.raises(ValueError):
        perms.parse_bitfield(value)


# --- properties --------------------------------------------------------------------------

bits = st.integers(min_value=0, max_value=ALL).map(lambda n: n & ALL)
role_ids = st.sampled_from([MOD, HELPER, 12, 13])


@st.composite
def scenarios(draw):
    roles = draw(st.dictionaries(role_ids, bits, max_size=4))
    mine = tuple(draw(st.lists(st.sampled_from(sorted(roles) or [MOD]), unique=True)))
    targets = st.one_of(
        st.tuples(st.sampled_from([GUILD, *roles] or [GUILD]), st.just(R)),
        st.tuples(st.sampled_from([ME, OWNER, 3]), st.just(M)),
    )
    raw = draw(st.dictionaries(targets, st.tuples(bits, bits), max_size=6))
    overwrites = [Overwrite(t, k, a, d) for (t, k), (a, d) in raw.items()]
    return {"everyone": draw(bits), "roles": roles, "mine": mine, "overwrites": overwrites}


def reference(everyone, roles, mine, overwrites, member=ME):
    """Discord's pseudo-code, transcribed literally."""
    if member == OWNER:
        return ALL
    base = everyone
    for r in mine:
        base |= roles.get(r, 0)
    if base & P.ADMINISTRATOR:
        return ALL
    by_id = {(o.id, o.type): o for o in overwrites}
    p = base
    if (GUILD, R) in by_id:
        p &= ~by_id[GUILD, R].deny
        p |= by_id[GUILD, R].allow
    allow = deny = 0
    for r in mine:
        if (r, R) in by_id and r in roles:
            allow |= by_id[r, R].allow
            deny |= by_id[r, R].deny
    p &= ~deny
    p |= allow
    if (member, M) in by_id:
        p &= ~by_id[member, M].deny
        p |= by_id[member, M].allow
    return p if p & VIEW else 0


@given(scenarios())
def test_matches_discords_pseudocode(s):
    assert compute(**s) == reference(**s)


@given(scenarios())
def test_result_is_within_known_bits(s):
    assert compute(**s) & ~ALL == 0


@given(scenarios(), bits)
def test_member_allow_always_grants_unless_view_missing(s, extra):
    s["overwrites"] = [o for o in s["overwrites"] if (o.id, o.type) != (ME, M)]
    s["overwrites"].append(Overwrite(ME, M, allow=extra | VIEW))
    assert compute(**s) & (extra | VIEW) == (extra | VIEW)


@given(scenarios())
def test_member_deny_view_hides_unless_admin(s):
    s["overwrites"] = [o for o in s["overwrites"] if (o.id, o.type) != (ME, M)]
    s["overwrites"].append(Overwrite(ME, M, deny=VIEW))
    base = compute(everyone=s["everyone"], roles=s["roles"], mine=s["mine"])
    result = compute(**s)
    assert result == (ALL if base & P.ADMINISTRATOR else 0)


@given(scenarios())
def test_owner_always_has_everything(s):
    assert compute(**s, member=OWNER) == ALL


@given(scenarios(), bits)
def test_adding_a_role_without_overwrites_never_removes_permissions(s, extra):
    before = compute(**s)
    roles = {**s["roles"], 99: extra}
    after = compute(
        everyone=s["everyone"], roles=roles, mine=(*s["mine"], 99), overwrites=s["overwrites"]
    )
    if before & VIEW:
        assert after & before == before
