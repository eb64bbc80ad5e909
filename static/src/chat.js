// Chat client entry: starts one gateway per tab on app pages and wires the pieces.
import { Composer } from "./composer.js";
import { gateway } from "./gateway.js";
import { Pane } from "./pane.js";
import { wire } from "./realtime.js";
import { wireSearch } from "./search.js";
import { wireThreads } from "./threads.js";
import { wireDialogs, wireKeyboard, wireStatus } from "./ui.js";

document.addEventListener("DOMContentLoaded", () => {
  wireDialogs();
  const shell = document.querySelector("[data-shell]");
  if (!shell) return;
  const root = document.querySelector("[data-pane]");
  const pane = root && root.querySelector("[data-messages]") ? new Pane(root) : null;
  const form = document.querySelector("[data-composer]");
  if (pane && form) new Composer(form, pane);
  // A thread open beside the channel: the same pane and composer, on the thread's messages.
  const threadRoot = document.querySelector("[data-thread-pane]");
  const threadPane = threadRoot ? new Pane(threadRoot) : null;
  const threadForm = threadRoot && threadRoot.querySelector("[data-composer]");
  if (threadPane && threadForm) new Composer(threadForm, threadPane);
  wireThreads();
  const gw = gateway();
  wireStatus(gw);
  wire(gw, shell, pane, threadPane);
  wireKeyboard(pane);
  wireSearch();
  gw.connect();
  window.unitedGateway = gw;
});
