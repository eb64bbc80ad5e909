// The installable app and Web Push on the page side: registers the service worker (static/src/
// sw.js, served at /sw.js so its scope is the whole node), runs the Notifications settings
// control, and keeps the unread badge (the app icon's badge where the browser has one, and the
// count in the tab's title) in step with the rail's mention badges.
import { api } from "./api.js";

const supported = () => "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

export async function registration() {
  if (!("serviceWorker" in navigator)) return null;
  try {
    return await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch {
    return null; // not over HTTPS/localhost, or blocked: the page works without it
  }
}

function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

async function settingsControl(box) {
  const status = box.querySelector("[data-push-status]");
  const enable = box.querySelector("[data-push-enable]");
  const disable = box.querySelector("[data-push-disable]");
  const say = (text) => {
    status.textContent = text;
  };
  const show = (on) => {
    enable.hidden = on;
    disable.hidden = !on;
  };
  if (!supported()) {
    say("This browser cannot show notifications from this node.");
    return;
  }
  const reg = await registration();
  if (!reg) {
    say("Notifications need this node to be served over HTTPS.");
    return;
  }
  await navigator.serviceWorker.ready;
  const known = new Set(Array.from(document.querySelectorAll("[data-push-device]"), (li) => li.dataset.endpoint));
  let current = await reg.pushManager.getSubscription();
  if (current && !known.has(current.endpoint)) {
    // The node forgot it (signed out, password changed, device removed): so does the browser.
    await current.unsubscribe().catch(() => {});
    current = null;
  }
  if (current) {
    say("Notifications are on for this browser.");
  } else if (Notification.permission === "denied") {
    say("Notifications are blocked for this site in the browser's settings.");
  } else {
    say("Notifications are off for this browser.");
  }
  show(Boolean(current));
  enable.disabled = Notification.permission === "denied";

  enable.addEventListener("click", async () => {
    enable.disabled = true;
    try {
      // The permission prompt comes only from this click.
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        say("Notifications were not allowed, so they stay off.");
        return;
      }
      const sub = await reg.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(box.dataset.vapidKey),
      });
      await api("POST", "/api/v1/users/@me/push-subscriptions", sub.toJSON());
      window.location.reload(); // the device list shows the new entry
    } catch (error) {
      say(`Could not turn notifications on: ${error.message || error}`);
    } finally {
      enable.disabled = false;
    }
  });

  disable.addEventListener("click", async () => {
    disable.disabled = true;
    try {
      const sub = await reg.pushManager.getSubscription();
      const mine = Array.from(document.querySelectorAll("[data-push-device]")).find(
        (li) => sub && li.dataset.endpoint === sub.endpoint,
      );
      if (mine) await api("DELETE", `/api/v1/users/@me/push-subscriptions/${mine.dataset.deviceId}`);
      if (sub) await sub.unsubscribe();
      window.location.reload();
    } catch (error) {
      say(`Could not turn notifications off: ${error.message || error}`);
      disable.disabled = false;
    }
  });
}

// The unread badge: the sum of the rail's mention badges (channels a member silenced count
// nothing, server-side), in the title as "(n)" and on the installed app's icon.
const baseTitle = () => document.title.replace(/^\(\d+\+?\) /, "");

export function updateBadge() {
  const entries = document.querySelectorAll("[data-rail-mentions]");
  if (!document.querySelector(".rail-list")) return; // not a page of the client
  const total = Array.from(entries).reduce((sum, li) => sum + (Number(li.dataset.railMentions) || 0), 0);
  document.title = total ? `(${total > 99 ? "99+" : total}) ${baseTitle()}` : baseTitle();
  if ("setAppBadge" in navigator) {
    (total ? navigator.setAppBadge(total) : navigator.clearAppBadge()).catch(() => {});
  }
}

function start() {
  const box = document.querySelector("[data-push-settings]");
  if (box) settingsControl(box);
  else registration();
  updateBadge();
  document.body.addEventListener("htmx:afterSettle", updateBadge);
  if (document.querySelector("[data-offline-page]")) {
    window.addEventListener("online", () => window.location.assign("/app/"));
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
