// Chat client entry: starts one gateway per tab on app pages and wires the pieces.
import { Composer } from "./composer.js";
import { gateway } from "./gateway.js";
import { Pane } from "./pane.js";
import { wire } from "./realtime.js";
import { wireSearch } from "./search.js";
import { wireDialogs, wireKeyboard, wireStatus } from "./ui.js";

document.addEventListener("DOMContentLoaded", () => {
  wireDialogs();
  const shell = document.querySelector("[data-shell]");
  if (!shell) return;
  const root = document.querySelector("[data-pane]");
  const pane = root && root.querySelector("[data-messages]") ? new Pane(root) : null;
  const form = document.querySelector("[data-composer]");
  if (pane && form) new Composer(form, pane);
  const gw = gateway();
  wireStatus(gw);
  wire(gw, shell, pane);
  wireKeyboard(pane);
  wireSearch();
  gw.connect();
  window.unitedGateway = gw;
});
