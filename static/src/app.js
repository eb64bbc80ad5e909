// Browser entry point, bundled by esbuild into static/dist/app.js (no CDN, no inline code).
import "./htmx-global.js";
import "htmx-ext-ws";
import "./accounts-passkeys.js";
import "./accounts-recovery.js";
import "./theme.js";
import "./chat.js";
import "./channel-order.js";
import "./moderation.js";
import "./voice.js";
import "./e2e-chat.js";
import "./e2e-mls.js";
import "./e2e-birth.js";
import "./e2e-devices.js";
import "./members.js";
import "./push.js";
import "./commands.js";
import "./components.js";

// CSRF for HTMX requests: Django's token rides in a header read from the meta tag.
document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) event.detail.headers["X-CSRFToken"] = meta.content;
});
