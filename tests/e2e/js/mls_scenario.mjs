// Four members' devices (static/src/e2e-mls/group.js on ts-mls, the module the browser uses)
// against a live node as the MLS delivery service: the group forms (two devices race to start
// it; the node takes one commit for the epoch), three members talk, one is kicked and removed
// from the group, and a member who joins later is added. Run by tests/e2e/test_mls_node.py,
// which reads stdin {base, guild_id, channel_id, invite, users: {name: {token, user_id,
// device_id}}} and gets back what each device could read.
import { readFileSync } from "node:fs";

import { MlsDevice, suite, unb64 } from "../../../static/src/e2e-mls/group.js";

const input = JSON.parse(readFileSync(0, "utf8"));
const { base, guild_id: guildId, channel_id: channelId, invite } = input;

function apiFor(token) {
  return async (method, path, body) => {
    const response = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error(`${method} ${path}: ${response.status} ${JSON.stringify(data)}`);
      error.status = response.status;
      error.errors = data?.errors ?? {};
      throw error;
    }
    return data;
  };
}

const devices = {};
const groups = {};
const problems = {};
for (const [name, u] of Object.entries(input.users)) {
  const signer = { signKey: unb64(u.sign_key), publicKey: unb64(u.public_key) };
  devices[name] = new MlsDevice({ api: apiFor(u.token), userId: u.user_id, deviceId: u.device_id, signer });
  groups[name] = devices[name].channel(channelId);
  problems[name] = [];
  groups[name].onProblem = (p) => problems[name].push(p);
}
const read = { alice: [], bob: [], carol: [], dave: [] };
const sync = async (name) => {
  for (const m of await groups[name].sync()) read[name].push({ seq: m.entry.seq, text: m.text, error: m.error ?? null, mine: Boolean(m.mine) });
};
const report = { conflicts: 0, epochs: {} };

// 1. The owner turns the channel encrypted; every device stocks KeyPackages.
await devices.alice.api("PUT", `/api/v1/channels/${channelId}/mls`, {});
for (const name of ["alice", "bob", "carol"]) await devices[name].topUp(5);

// 2. Alice's and Bob's devices both find no group and race to start it: the node accepts one
// commit for epoch 0; the other is refused (409), drops its group and waits for its welcome.
// Both devices' first commits wait for each other at the door, so both were made for epoch 0.
let arrived = 0;
let release;
const both = new Promise((resolve) => (release = resolve));
const counting = (inner) => async (method, path, body) => {
  if (method === "POST" && path.endsWith("/commits") && arrived < 2) {
    arrived += 1;
    if (arrived === 2) release();
    await both;
  }
  try {
    return await inner(method, path, body);
  } catch (error) {
    if (error.status === 409) report.conflicts += 1;
    throw error;
  }
};
devices.alice.api = counting(devices.alice.api);
devices.bob.api = counting(devices.bob.api);
await Promise.all([sync("alice"), sync("bob")]);
for (let round = 0; round < 3; round++) for (const name of ["alice", "bob", "carol"]) await sync(name);
report.formed = Object.fromEntries(["alice", "bob", "carol"].map((n) => [n, groups[n].members().map((m) => m.userId).sort()]));

// 3. Three members talk.
await groups.alice.send("alpha from alice", "a1");
await groups.bob.send("bravo from bob", "b1");
await groups.carol.send("charlie from carol", "c1");
for (const name of ["alice", "bob", "carol"]) await sync(name);

// 4. Carol is kicked; the next device to sync removes her leaf.
await devices.alice.api("DELETE", `/api/v1/guilds/${guildId}/members/${input.users.carol.user_id}`);
await sync("alice");
report.after_kick = groups.alice.members().map((m) => m.userId).sort();
const secret = await groups.alice.send("delta after carol left", "a2");
await sync("bob");
try {
  await groups.carol.pull();
  report.carol_log_status = 200;
} catch (error) {
  report.carol_log_status = error.status;
}
// Even holding the ciphertext (a copy from anywhere), Carol's device cannot open it.
const stolen = await groups.carol.apply(secret, await suite());
report.carol_stolen = stolen;
report.carol_epoch = groups.carol.epoch;
report.group_epoch = groups.alice.epoch;

// 5. Dave joins the guild later; a member's device adds his. He cannot read what came before.
await devices.dave.topUp(5);
await devices.dave.api("POST", `/api/v1/invites/${invite}`, {});
await sync("bob");
await sync("alice");
await sync("dave");
await groups.bob.send("echo welcome dave", "b2");
for (const name of ["alice", "dave"]) await sync(name);
report.final = groups.alice.members().map((m) => m.userId).sort();
// Dave tries the earlier ciphertexts directly: none opens.
const early = (await devices.alice.api("GET", `/api/v1/channels/${channelId}/mls/log?device_id=${input.users.alice.device_id}&after=0`)).entries
  .filter((e) => e.kind === "application" && e.sender.device_id !== input.users.dave.device_id);
report.dave_early = [];
for (const entry of early.slice(0, 4)) {
  const out = await groups.dave.apply({ ...entry, seq: -1 }, await suite());
  report.dave_early.push(out?.text ?? null);
}
report.read = read;
report.problems = problems;
report.ciphertext_bytes = unb64(secret.data).length;
process.stdout.write(JSON.stringify(report) + "\n");
