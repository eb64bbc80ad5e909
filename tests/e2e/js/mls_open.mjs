// Try to open one MLS log entry with a device's saved state (MlsDevice.toJson(), taken from a
// browser page): stdin {device, user_id, device_id, channel_id, entry}, stdout {text, error}. Used by
// tests/e2e/test_browser_mls.py to show a removed member's device cannot read what followed.
import { readFileSync } from "node:fs";

import { MlsDevice } from "../../../static/src/e2e-mls/group.js";

const input = JSON.parse(readFileSync(0, "utf8"));
const device = new MlsDevice({ api: null, userId: input.user_id, deviceId: input.device_id });
device.restore(input.device);
const out = await device.channel(input.channel_id).apply(input.entry);
process.stdout.write(JSON.stringify({ text: out?.text ?? null, error: out?.error ?? null }) + "\n");
