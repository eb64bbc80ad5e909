// Recovery phrase, made and kept in the browser. A 12-word BIP39 phrase becomes a seed
// (PBKDF2-HMAC-SHA512, empty passphrase); the seed's first 32 bytes are an Ed25519 private key.
// Only the matching public key goes to the node (a hidden form field), which later checks a
// signature made with it (accounts/services/recovery.py). The phrase itself is never sent.
import { getPublicKeyAsync, signAsync } from "@noble/ed25519";
import { generateMnemonic, mnemonicToSeed, validateMnemonic } from "@scure/bip39";
import { wordlist } from "@scure/bip39/wordlists/english.js";

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
  const post = async (url, body) => {
    const response = await fetch(url, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json();
    if (!response.ok) {
      const fields = Object.values(data.errors || {}).flat();
      throw new Error([data.message, ...fields].filter(Boolean).join(" "));
    }
    return data;
  };
  const challenge = await post("/api/v1/auth/recovery/challenge", { username });
  const seed = await mnemonicToSeed(phrase, "");
  const signature = await signAsync(new TextEncoder().encode(challenge.message), seed.slice(0, 32));
  await post("/api/v1/auth/recovery", {
    username,
    nonce: challenge.nonce,
    signature: toBase64(signature),
    new_password: form.elements.new_password.value,
  });
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
