// Drives the browser module from pytest for the interop tests: one JSON request on stdin,
// one JSON answer on stdout. The device state is the JSON both implementations share.
import { readFileSync } from "node:fs";

import * as c from "../../../static/src/e2e/primitives.js";
import { LocalDevice } from "../../../static/src/e2e/device.js";
import { bundleFromApi } from "../../../static/src/e2e/x3dh.js";
import { decryptFile, encryptFile } from "../../../static/src/e2e/files.js";

await c.ready();
const req = JSON.parse(readFileSync(0, "utf8"));
const out = {};
let dev = req.state ? LocalDevice.fromJson(req.state) : null;
try {
  if (req.op === "encrypt_file") {
    const [blob, descriptor] = await encryptFile(c.unb64(req.data));
    Object.assign(out, { blob: c.b64(blob), descriptor });
  } else if (req.op === "decrypt_file") {
    try {
      out.data = c.b64(await decryptFile(c.unb64(req.blob), req.descriptor));
    } catch (e) {
      out.failure = e.reason || String(e);
    }
  } else if (req.op === "create") {
    dev = LocalDevice.create(req.user_id, req.prekeys ?? 5);
    dev.deviceId = req.device_id;
    out.registration = dev.registration();
  } else if (req.op === "encrypt") {
    for (const b of req.bundles || []) await dev.startSession(bundleFromApi(b.user_id, b.device));
    out.envelopes = [];
    for (const payload of req.payloads) out.envelopes.push(await dev.encrypt(req.channel_id, req.targets, payload));
  } else if (req.op === "decrypt") {
    out.results = [];
    for (const env of req.envelopes) {
      try {
        out.results.push({ payload: (await dev.decrypt(env)).payload });
      } catch (e) {
        if (!e.reason) throw e;
        out.results.push({ error: e.reason });
      }
    }
  }
  if (dev) out.state = dev.toJson();
} catch (e) {
  out.error = String(e.stack || e);
}
process.stdout.write(JSON.stringify(out));
