// Passkeys on the account pages: add one (security settings), sign in with one (login page,
// passwordless) or use one as the second step (login/2fa). The node's JSON API does the
// ceremony; this file only talks to the authenticator through @simplewebauthn/browser.
import { startAuthentication, startRegistration } from "@simplewebauthn/browser";

import { api } from "./api.js";

function showError(button, error) {
  const box = button.closest("main").querySelector("[data-passkey-error]");
  if (!box) return;
  box.textContent = error.name === "NotAllowedError" ? "The passkey prompt was cancelled." : error.message;
  box.hidden = false;
}

async function addPasskey(button) {
  const nameInput = document.querySelector("[data-passkey-name]");
  const { state, options } = await api("POST", "/api/v1/users/@me/passkeys/options", {});
  const credential = await startRegistration({ optionsJSON: options });
  await api("POST", "/api/v1/users/@me/passkeys", {
    state,
    credential,
    name: nameInput && nameInput.value.trim() ? nameInput.value.trim() : "Passkey",
  });
  window.location.reload();
}

async function signIn(button) {
  const ticket = button.dataset.ticket;
  const { state, options } = await api("POST", "/api/v1/auth/passkeys/options", ticket ? { ticket } : {});
  const credential = await startAuthentication({ optionsJSON: options });
  const result = await api("POST", "/login/passkey/", { state, credential, next: button.dataset.next || "" });
  window.location.assign(result.redirect || "/");
}

// A sensitive change (moving the account) asks for a passkey: the assertion rides along in
// the form's hidden fields and the node checks it with the change.
async function confirmWithPasskey(button) {
  const form = button.closest("form");
  const { state, options } = await api("POST", "/api/v1/users/@me/passkeys/confirm-options", {});
  const credential = await startAuthentication({ optionsJSON: options });
  form.querySelector("[data-passkey-state]").value = state;
  form.querySelector("[data-passkey-credential]").value = JSON.stringify(credential);
  form.requestSubmit();
}

function bind(selector, action) {
  document.querySelectorAll(selector).forEach((button) => {
    button.addEventListener("click", () => {
      button.disabled = true;
      action(button)
        .catch((error) => showError(button, error))
        .finally(() => {
          button.disabled = false;
        });
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  if (!window.PublicKeyCredential) {
    document.querySelectorAll("[data-passkey-register], [data-passkey-login], [data-passkey-confirm]").forEach((b) => {
      b.hidden = true;
    });
    return;
  }
  bind("[data-passkey-register]", addPasskey);
  bind("[data-passkey-login]", signIn);
  bind("[data-passkey-confirm]", confirmWithPasskey);
});
