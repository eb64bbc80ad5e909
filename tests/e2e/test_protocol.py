"""The Python client library on its own: X3DH + Double Ratchet behaviour and its bounds."""

import copy
import json

import pytest

from tests.e2e.helpers import bundle_of, make_device, send, text
from united_client.e2e import primitives as c
from united_client.e2e.device import LocalDevice
from united_client.e2e.errors import DecryptError, DeviceListError, E2EError
from united_client.e2e.ratchet import MAX_JUMP, MAX_SKIPPED, kdf_ck


@pytest.fixture
def pair():
    return make_device("1", "10"), make_device("2", "20")


def test_conversation_both_ways_and_out_of_order(pair):
    a, b = pair
    first = [send(a, b, f"a{i}") for i in range(4)]
    assert text(b, first[2]) == "a2"  # out of order, before the session-start message 0
    assert text(b, first[0]) == "a0"
    reply = send(b, a, "b0")
    assert reply["copies"][0]["x3dh"] is None
    assert text(a, reply) == "b0"
    assert text(b, first[3]) == "a3"
    assert text(b, first[1]) == "a1"
    later = send(a, b, "a4")
    assert later["copies"][0]["x3dh"] is None  # the answer confirmed the session
    assert text(b, later) == "a4"


def test_one_time_prekey_is_consumed_and_start_cannot_be_replayed(pair):
    a, b = pair
    env = send(a, b, "hello")
    opk_id = env["copies"][0]["x3dh"]["opk_id"]
    assert text(b, env) == "hello"
    assert opk_id not in b.opks
    fresh = LocalDevice.from_json(json.loads(json.dumps(b.to_json())))
    fresh.sessions.clear()  # even without the session, the session start is not accepted twice
    with pytest.raises(DecryptError) as exc:
        fresh.decrypt(env)
    assert exc.value.reason == "replay"


def test_replayed_message_rejected(pair):
    a, b = pair
    e1 = send(a, b, "one")
    assert text(b, e1) == "one"
    text(a, send(b, a, "ack"))
    e2 = send(a, b, "two")
    assert text(b, e2) == "two"
    for env in (e1, e2):
        with pytest.raises(DecryptError) as exc:
            b.decrypt(env)
        assert exc.value.reason == "replay"


def test_tampered_ciphertext_and_header_rejected_without_moving_state(pair):
    a, b = pair
    env = send(a, b, "secret")
    bad = copy.deepcopy(env)
    raw = bytearray(c.unb64(bad["copies"][0]["ciphertext"]))
    raw[0] ^= 1
    bad["copies"][0]["ciphertext"] = c.b64(bytes(raw))
    with pytest.raises(DecryptError) as exc:
        b.decrypt(bad)
    assert exc.value.reason == "tampered"
    bad_n = copy.deepcopy(env)
    bad_n["copies"][0]["header"]["pn"] = 1
    with pytest.raises(DecryptError):
        b.decrypt(bad_n)
    assert text(b, env) == "secret"  # the failures changed nothing


@pytest.mark.parametrize(
    "field,value",
    [("channel_id", "501"), ("sender", {"user_id": "1", "device_id": "11"})],
)
def test_wrong_associated_data_rejected(pair, field, value):
    a, b = pair
    text(b, send(a, b, "start"))
    env = send(a, b, "bound to its channel and sender")
    moved = {**env, field: value}
    if field == "sender":
        b.sessions["11"] = b.sessions["10"]  # even with a session under the other id
    with pytest.raises(DecryptError) as exc:
        b.decrypt(moved)
    assert exc.value.reason == "tampered"


def test_copy_for_another_device_is_refused(pair):
    a, b = pair
    env = send(a, b, "hi")
    env["copies"][0]["device_id"] = "21"
    with pytest.raises(DecryptError) as exc:
        b.decrypt(env)
    assert exc.value.reason == "not_for_device"


def test_lost_message_does_not_block_the_rest(pair):
    a, b = pair
    text(b, send(a, b, "0"))
    send(a, b, "lost forever")
    assert text(b, send(a, b, "2")) == "2"
    text(a, send(b, a, "reply"))
    assert text(b, send(a, b, "3")) == "3"


def _chain(a, b, count):
    text(b, send(a, b, "start"))
    text(a, send(b, a, "ack"))
    return [send(a, b, str(i)) for i in range(count)]


def _advance(state, count):
    """As if `count` messages had been sent and lost."""
    for _ in range(count):
        state.cks, _mk = kdf_ck(state.cks)
        state.ns += 1


def test_jump_of_exactly_max_jump_is_accepted():
    a, b = make_device("1", "10"), make_device("2", "20")
    text(b, send(a, b, "start"))
    _advance(a.sessions["20"][0].ratchet, MAX_JUMP)
    assert text(b, send(a, b, "far")) == "far"
    assert len(b.sessions["10"][0].ratchet.skipped) == MAX_SKIPPED


def test_jump_beyond_max_jump_is_refused_and_changes_nothing():
    a, b = make_device("1", "10"), make_device("2", "20")
    text(b, send(a, b, "start"))
    _advance(a.sessions["20"][0].ratchet, MAX_JUMP + 1)
    before = json.dumps(b.to_json())
    with pytest.raises(DecryptError) as exc:
        b.decrypt(send(a, b, "too far"))
    assert exc.value.reason == "too_far_ahead"
    assert json.dumps(b.to_json()) == before


def test_skipped_key_store_holds_exactly_max_skipped():
    a, b = make_device("1", "10"), make_device("2", "20")
    envs = _chain(a, b, MAX_SKIPPED + 2)
    # Receiving message MAX_SKIPPED skips 0..MAX_SKIPPED-1: exactly the bound, all kept.
    assert text(b, envs[MAX_SKIPPED]) == str(MAX_SKIPPED)
    assert len(b.sessions["10"][0].ratchet.skipped) == MAX_SKIPPED
    assert text(b, envs[0]) == "0"
    # One more skipped key evicts the oldest still stored (message 1).
    assert text(b, envs[MAX_SKIPPED + 1]) == str(MAX_SKIPPED + 1)
    assert len(b.sessions["10"][0].ratchet.skipped) == MAX_SKIPPED - 1
    assert text(b, envs[2]) == "2"


def test_skipped_keys_bound_evicts_the_oldest():
    a, b = make_device("1", "10"), make_device("2", "20")
    envs = _chain(a, b, MAX_SKIPPED + 2)
    assert text(b, envs[MAX_SKIPPED + 1]) == str(MAX_SKIPPED + 1)  # skips 2001 keys
    assert len(b.sessions["10"][0].ratchet.skipped) == MAX_SKIPPED
    with pytest.raises(DecryptError) as exc:
        b.decrypt(envs[0])  # its key was the one evicted
    assert exc.value.reason == "replay"
    assert text(b, envs[1]) == "1"


def test_forward_secrecy_captured_state_cannot_open_earlier_messages(pair):
    a, b = pair
    history = []
    for i in range(3):
        env = send(a, b, f"old {i}")
        history.append(env)
        assert text(b, env) == f"old {i}"
        text(a, send(b, a, f"reply {i}"))
    stolen = LocalDevice.from_json(json.loads(json.dumps(b.to_json())))
    for env in history:
        with pytest.raises(DecryptError):
            stolen.decrypt(env)
    # …while the captured state still opens what comes next (break-in recovery then
    # needs a DH ratchet step, which the next reply brings).
    assert text(stolen, send(a, b, "new")) == "new"


def test_new_session_after_device_reset(pair):
    a, b = pair
    text(b, send(a, b, "before"))
    b2 = make_device("2", "21")  # the device was wiped: new keys, registered anew
    a.forget_device("20")
    env = send(a, b2, "after reset")
    assert env["copies"][0]["x3dh"] is not None
    assert text(b2, env) == "after reset"
    assert text(a, send(b2, a, "hi again")) == "hi again"


def test_signed_prekey_with_bad_signature_refused(pair):
    a, b = pair
    bundle = bundle_of(b)
    forged = bundle.__class__(**{**bundle.__dict__, "spk": c.x25519_keypair()[1]})
    with pytest.raises(E2EError) as exc:
        a.start_session(forged)
    assert exc.value.reason == "bad_prekey_signature"


def test_device_lists_server_cannot_add_a_device():
    a = make_device("1", "10")
    b1, b2 = make_device("2", "20"), make_device("2", "21")
    v1 = b1.sign_device_list(1, {"20": b1.identity_pub})
    a.check_device_list("2", v1)
    # The server invents device 66 and signs the list with it: refused, pin unchanged.
    evil = make_device("2", "66")
    forged = evil.sign_device_list(2, {"20": b1.identity_pub, "66": evil.identity_pub})
    with pytest.raises(DeviceListError) as exc:
        a.check_device_list("2", forged)
    assert exc.value.reason == "unsigned_device_change"
    bundle = {
        "devices": [
            {**_api(bundle_of(b1))},
            {**_api(bundle_of(evil))},
        ]
    }
    ok, warnings = a.trusted_bundles("2", bundle)
    assert [x.device_id for x in ok] == ["20"]
    assert warnings == ["device 66 is not on the signed device list"]
    # A list the existing device signed is accepted; rollback to v1 is not.
    v2 = b1.sign_device_list(2, {"20": b1.identity_pub, "21": b2.identity_pub})
    assert set(a.check_device_list("2", v2).devices) == {"20", "21"}
    with pytest.raises(DeviceListError):
        a.check_device_list("2", v1)


def _api(bundle):
    return {
        "device_id": bundle.device_id,
        "identity_key": c.b64(bundle.identity_key),
        "signed_prekey": {
            "key_id": bundle.spk_id,
            "public_key": c.b64(bundle.spk),
            "signature": c.b64(bundle.spk_signature),
        },
        "one_time_prekey": None,
    }


def test_message_from_device_off_the_signed_list_is_refused(pair):
    a, b = pair
    b.check_device_list("1", a.sign_device_list(1, {"10": a.identity_pub}))
    stranger = make_device("1", "99")  # a device the server made up for user 1
    with pytest.raises(DecryptError) as exc:
        b.decrypt(send(stranger, b, "trust me"))
    assert exc.value.reason == "unknown_device"
    assert text(b, send(a, b, "real")) == "real"
