// Keeps the device state (private keys, sessions, decrypted history) in IndexedDB, encrypted
// with AES-GCM under a WebCrypto key generated with extractable=false. IndexedDB stores the
// CryptoKey object itself (structured clone), so script can use it but never read its bytes,
// and the stored record holds only {iv, ciphertext}.
const DB = "united-e2e";
const STORE = "kv";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function op(mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = fn(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req && req.result);
    tx.onerror = () => reject(tx.error);
  });
}

const get = (key) => op("readonly", (s) => s.get(key));
const put = (key, value) => op("readwrite", (s) => s.put(value, key));

async function wrappingKey() {
  let key = await get("wrap-key");
  if (!key) {
    key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    await put("wrap-key", key);
  }
  return key;
}

export async function save(userId, state) {
  const key = await wrappingKey();
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = new TextEncoder().encode(JSON.stringify(state));
  const ciphertext = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: new TextEncoder().encode(`state:${userId}`) }, key, data);
  await put(`state:${userId}`, { iv, ciphertext });
}

export async function load(userId) {
  const record = await get(`state:${userId}`);
  if (!record) return null;
  const key = await wrappingKey();
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: record.iv, additionalData: new TextEncoder().encode(`state:${userId}`) }, key, record.ciphertext,
  );
  return JSON.parse(new TextDecoder().decode(plain));
}

// Another record under the same wrapping key (the encrypted channels' MLS state,
// static/src/e2e-mls/store.js): sealed the same way, bound to its own name.
export async function saveRecord(name, value) {
  const key = await wrappingKey();
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = new TextEncoder().encode(JSON.stringify(value));
  const ciphertext = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: new TextEncoder().encode(name) }, key, data);
  await put(name, { iv, ciphertext });
}

export async function loadRecord(name) {
  const record = await get(name);
  if (!record) return null;
  const key = await wrappingKey();
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: record.iv, additionalData: new TextEncoder().encode(name) }, key, record.ciphertext);
  return JSON.parse(new TextDecoder().decode(plain));
}
