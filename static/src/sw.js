// The service worker (served at /sw.js by push/views.py, which puts UNITED_SHELL and
// UNITED_VERSION ahead of this code). It keeps the app shell for offline use, answers a
// navigation the network cannot with the offline page, and shows Web Push notifications.
//
// A push carries only {channel_id, guild_id, count} (push/services.py): no text, no sender.
// What the notification says is fetched here with the member's own session from
// /api/v1/push/channels/<id>/preview; for an end-to-end encrypted conversation the node has no
// text, and neither does this worker: it says "New encrypted message". Nothing of the
// payload but the channel id and the count is ever used.
/* global self, caches, clients */
const VERSION = self.UNITED_VERSION || "dev";
const SHELL = self.UNITED_SHELL || ["/offline/"];
const CACHE = `united-shell-${VERSION}`;
const OFFLINE = "/offline/";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("united-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

const shellPaths = new Set(SHELL);

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE).then((r) => r || Response.error())));
    return;
  }
  if (shellPaths.has(url.pathname)) {
    // Network first, so a new build is used at once; the cached copy when offline.
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
          }
          return response;
        })
        .catch(() => caches.match(url.pathname).then((r) => r || Response.error())),
    );
  }
});

function parse(event) {
  try {
    const data = event.data ? event.data.json() : {};
    const id = String(data.channel_id || "");
    return {
      channelId: /^[0-9]{1,20}$/.test(id) ? id : null,
      count: Number.isInteger(data.count) && data.count > 0 ? data.count : 0,
    };
  } catch {
    return { channelId: null, count: 0 };
  }
}

async function preview(channelId) {
  const response = await fetch(`/api/v1/push/channels/${channelId}/preview`, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!response.ok) throw new Error(`preview answered ${response.status}`);
  return response.json();
}

async function notify({ channelId, count }) {
  let title = "UNITED";
  let body = "You have new messages";
  let url = "/app/";
  if (channelId) {
    try {
      const shown = await preview(channelId);
      title = shown.title;
      body = shown.encrypted ? "New encrypted message" : shown.body;
      url = shown.url;
    } catch {
      // Signed out or offline: a generic line, still nothing from the payload.
    }
  }
  if (count > 1) title = `${title} (${count > 99 ? "99+" : count})`;
  if (self.navigator.setAppBadge && count) self.navigator.setAppBadge(count).catch(() => {});
  await self.registration.showNotification(title, {
    body,
    tag: channelId ? `channel-${channelId}` : "united",
    renotify: true,
    icon: "/static/img/icons/icon-192.png",
    badge: "/static/img/icons/icon-96.png",
    data: { url, channelId },
  });
}

self.addEventListener("push", (event) => {
  event.waitUntil(notify(parse(event)));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/app/", self.location.origin);
  if (target.origin !== self.location.origin) return;
  event.waitUntil(
    (async () => {
      const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const same = open.find((c) => new URL(c.url).pathname === target.pathname);
      if (same) return same.focus();
      const any = open.find((c) => "navigate" in c);
      if (any) {
        const moved = await any.navigate(target.href).catch(() => null);
        if (moved) return moved.focus();
      }
      return self.clients.openWindow(target.href);
    })(),
  );
});
