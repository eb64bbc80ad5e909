// Recovery phrase, made and kept in the browser. A 12-word BIP39 phrase becomes a seed
// (PBKDF2-HMAC-SHA512, empty passphrase); the seed's first 32 bytes are an Ed25519 private key.
// Only the matching public key goes to the node (a hidden form field), which later checks a
// signature made with it (accounts/services/recovery.py). The phrase itself is never sent.
import { getPublicKeyAsync, signAsync } from "@noble/ed25519";
import { generateMnemonic, mnemonicToSeed, validateMnemonic } from "@scure/bip39";
import { wordlist } from "@scure/bip39/wordlists/english.js";

import { api } from "./api.js";

// The recovery page is used signed out: its requests carry no cookie (and so no CSRF token).
const SIGNED_OUT = { credentials: "omit" };

function toBase64(bytes) {
  let binary = "";
  bytes.forEach((b) => {
    binary += String.fromCharCode(b);
  });
  return btoa(binary);
}

export async function recoveryPublicKey(phrase) {
  const seed = await mnemonicToSeed(phrase, "");
  return toBase64(await getPublicKeyAsync(seed.slice(0, 32)));
}

async function prepare(form) {
  const phrase = generateMnemonic(wordlist, 128);
  form.querySelector("[data-recovery-public-key]").value = await recoveryPublicKey(phrase);
  form.querySelector("[data-recovery-words]").textContent = phrase;
  form.querySelector("[data-recovery-phrase]").hidden = false;
  const grid = form.querySelector("[data-recovery-grid]");
  if (grid) {
    // Numbered, so the confirmation's "word #7" is easy to find on paper.
    grid.replaceChildren(
      ...phrase.split(" ").map((word) => {
        const item = document.createElement("li");
        item.textContent = word;
        return item;
      }),
    );
    form.querySelector("[data-recovery-words]").hidden = true;
  }
  if (form.querySelector("[data-recovery-asks]")) askToConfirm(form, phrase.split(" "));
}

// Three different positions, chosen at random, sorted so they are asked in order.
function pickPositions(count, total) {
  const chosen = new Set();
  const random = new Uint32Array(1);
  while (chosen.size < count) {
    crypto.getRandomValues(random);
    chosen.add(random[0] % total);
  }
  return Array.from(chosen).sort((a, b) => a - b);
}

// Onboarding asks for three of the words before the account is made: the phrase is the only
// way back in, and the node never sees it, so this is the one moment to be sure it was kept.
function askToConfirm(form, words) {
  const box = form.querySelector("[data-recovery-asks]");
  const error = form.querySelector("[data-recovery-error]");
  const positions = pickPositions(3, words.length);
  box.replaceChildren(
    ...positions.map((position) => {
      const wrap = document.createElement("div");
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.id = `recovery-word-${position + 1}`;
      input.dataset.recoveryAsk = String(position);
      input.autocomplete = "off";
      input.spellcheck = false;
      input.setAttribute("autocapitalize", "none");
      input.required = true;
      label.htmlFor = input.id;
      label.textContent = `Word #${position + 1}`;
      wrap.append(label, input);
      return wrap;
    }),
  );
  form.addEventListener("submit", (event) => {
    const wrong = Array.from(box.querySelectorAll("[data-recovery-ask]")).filter(
      (input) => input.value.trim().toLowerCase() !== words[Number(input.dataset.recoveryAsk)],
    );
    box.querySelectorAll("[data-recovery-ask]").forEach((input) => {
      input.setAttribute("aria-invalid", wrong.includes(input) ? "true" : "false");
    });
    if (!wrong.length) {
      error.hidden = true;
      return;
    }
    event.preventDefault();
    const names = wrong.map((input) => `#${Number(input.dataset.recoveryAsk) + 1}`).join(", ");
    const verb = wrong.length > 1 ? `Words ${names} do not` : `Word ${names} does not`;
    error.textContent = `${verb} match your recovery phrase. Check what you wrote down.`;
    error.hidden = false;
    wrong[0].focus();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-recovery-form]").forEach((form) => {
    const field = form.querySelector("[data-recovery-public-key]");
    if (form.hasAttribute("data-recovery-on-load")) {
      prepare(form).catch(() => {
        field.value = "";
      });
      return;
    }
    // Settings page: the first press makes and shows the phrase, the second saves its key.
    form.addEventListener("submit", (event) => {
      if (field.value) return;
      event.preventDefault();
      prepare(form).then(() => {
        const button = form.querySelector('button[type="submit"]');
        if (button) button.textContent = "I have written it down: save";
      });
    });
  });
});

// The recovery page: sign the node's recovery challenge with the phrase's key.
async function recover(form) {
  const username = form.elements.username.value.trim();
  const phrase = form.elements.phrase.value.trim().toLowerCase().split(/\s+/).join(" ");
  if (!validateMnemonic(phrase, wordlist)) throw new Error("These words are not a valid recovery phrase.");
  const challenge = await api("POST", "/api/v1/auth/recovery/challenge", { username }, SIGNED_OUT);
  const seed = await mnemonicToSeed(phrase, "");
  const signature = await signAsync(new TextEncoder().encode(challenge.message), seed.slice(0, 32));
  await api("POST", "/api/v1/auth/recovery", {
    username,
    nonce: challenge.nonce,
    signature: toBase64(signature),
    new_password: form.elements.new_password.value,
  }, SIGNED_OUT);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-recover-form]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const error = form.querySelector("[data-recover-error]");
      error.hidden = true;
      recover(form)
        .then(() => {
          form.querySelector("[data-recover-done]").hidden = false;
          form.elements.phrase.value = "";
        })
        .catch((e) => {
          error.textContent = e.message;
          error.hidden = false;
        });
    });
  });
});
