// The Double Ratchet (Signal's specification, revision 1), the same as
// united_client/e2e/ratchet.py: KDF_RK = HKDF(salt=RK, ikm=DH out, "UNITED_Ratchet_v1", 64),
// KDF_CK = HMAC(CK, 0x02) / HMAC(CK, 0x01), message keys via HKDF(MK, zero salt,
// "UNITED_MessageKeys_v1", 56) into an XChaCha20-Poly1305 key and nonce. At most MAX_JUMP
// messages skipped at once, at most MAX_SKIPPED keys stored (oldest evicted). Decryption works
// on a copy of the state and keeps it only when the AEAD check passed.
import * as c from "./primitives.js";
import { DecryptError } from "./errors.js";

export const MAX_JUMP = 25000;
export const MAX_SKIPPED = 2000;
const INFO_RK = c.enc.encode("UNITED_Ratchet_v1");
const INFO_MK = c.enc.encode("UNITED_MessageKeys_v1");
const ZERO32 = new Uint8Array(32);

export async function kdfRk(rk, dhOut) {
  const out = await c.hkdf(dhOut, rk, INFO_RK, 64);
  return [out.slice(0, 32), out.slice(32)];
}

export async function kdfCk(ck) {
  return [await c.hmacSha256(ck, Uint8Array.of(2)), await c.hmacSha256(ck, Uint8Array.of(1))];
}

export async function messageKeyMaterial(mk) {
  const out = await c.hkdf(mk, ZERO32, INFO_MK, 56);
  return [out.slice(0, 32), out.slice(32)];
}

export async function encrypt(mk, plaintext, ad) {
  const [key, nonce] = await messageKeyMaterial(mk);
  return c.aeadEncrypt(key, nonce, plaintext, ad);
}

export async function decrypt(mk, ciphertext, ad) {
  const [key, nonce] = await messageKeyMaterial(mk);
  try {
    return c.aeadDecrypt(key, nonce, ciphertext, ad);
  } catch {
    throw new DecryptError(
      "The message failed its integrity check (tampered, or wrong associated data).",
      "tampered",
    );
  }
}

export function encodeHeader(h) {
  const out = new Uint8Array(40);
  out.set(h.dh, 0);
  const view = new DataView(out.buffer);
  view.setUint32(32, h.pn);
  view.setUint32(36, h.n);
  return out;
}

export function headerFromJson(d) {
  const ok = (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32;
  try {
    if (!d || !ok(d.pn) || !ok(d.n)) throw new Error();
    return { dh: c.unb64(d.dh, 32), pn: d.pn, n: d.n };
  } catch {
    throw new DecryptError("Malformed ratchet header.", "malformed");
  }
}

export const headerToJson = (h) => ({ dh: c.b64(h.dh), pn: h.pn, n: h.n });

const REPLAY = "This message was already decrypted, or its key was discarded (replay or evicted skipped key).";

export class Ratchet {
  constructor(s) {
    Object.assign(this, s);
  }

  static async initAlice(sk, bobDh) {
    const [priv, pub] = c.x25519Keypair();
    const [rk, cks] = await kdfRk(sk, c.x25519(priv, bobDh));
    return new Ratchet({ dhsPriv: priv, dhsPub: pub, dhr: bobDh, rk, cks, ckr: null, ns: 0, nr: 0, pn: 0, skipped: new Map(), oldDhr: [] });
  }

  static initBob(sk, bobDhPriv) {
    return new Ratchet({ dhsPriv: bobDhPriv, dhsPub: c.x25519Public(bobDhPriv), dhr: null, rk: sk, cks: null, ckr: null, ns: 0, nr: 0, pn: 0, skipped: new Map(), oldDhr: [] });
  }

  clone() {
    return new Ratchet({ ...this, skipped: new Map(this.skipped), oldDhr: [...this.oldDhr] });
  }

  async encrypt(plaintext, ad) {
    if (!this.cks) throw new DecryptError("This session cannot send before it has received.", "state");
    const [cks, mk] = await kdfCk(this.cks);
    this.cks = cks;
    const header = { dh: this.dhsPub, pn: this.pn, n: this.ns };
    this.ns += 1;
    return [header, await encrypt(mk, plaintext, c.concat(ad, encodeHeader(header)))];
  }

  async decrypt(header, ciphertext, ad) {
    const trial = this.clone();
    const plaintext = await trial._decrypt(header, ciphertext, ad);
    Object.assign(this, trial);
    return plaintext;
  }

  async _decrypt(header, ciphertext, ad) {
    const fullAd = c.concat(ad, encodeHeader(header));
    const key = `${c.b64(header.dh)}:${header.n}`;
    const mk = this.skipped.get(key);
    if (mk) {
      this.skipped.delete(key);
      return decrypt(mk, ciphertext, fullAd);
    }
    if (this.oldDhr.some((k) => c.equal(k, header.dh))) throw new DecryptError(REPLAY, "replay");
    if (!c.equal(header.dh, this.dhr)) {
      await this._skip(header.pn);
      await this._dhRatchet(header);
    } else if (header.n < this.nr) {
      throw new DecryptError(REPLAY, "replay");
    }
    await this._skip(header.n);
    const [ckr, mk2] = await kdfCk(this.ckr);
    this.ckr = ckr;
    this.nr += 1;
    return decrypt(mk2, ciphertext, fullAd);
  }

  async _skip(until) {
    if (!this.ckr) return;
    if (until - this.nr > MAX_JUMP) {
      throw new DecryptError(`The message skips more than ${MAX_JUMP} messages; refused.`, "too_far_ahead");
    }
    const dhr = c.b64(this.dhr);
    while (this.nr < until) {
      const [ckr, mk] = await kdfCk(this.ckr);
      this.ckr = ckr;
      this.skipped.set(`${dhr}:${this.nr}`, mk);
      this.nr += 1;
    }
    while (this.skipped.size > MAX_SKIPPED) this.skipped.delete(this.skipped.keys().next().value);
  }

  async _dhRatchet(header) {
    if (this.dhr) this.oldDhr = [...this.oldDhr, this.dhr].slice(-20);
    this.pn = this.ns;
    this.ns = 0;
    this.nr = 0;
    this.dhr = header.dh;
    [this.rk, this.ckr] = await kdfRk(this.rk, c.x25519(this.dhsPriv, this.dhr));
    [this.dhsPriv, this.dhsPub] = c.x25519Keypair();
    [this.rk, this.cks] = await kdfRk(this.rk, c.x25519(this.dhsPriv, this.dhr));
  }

  toJson() {
    const opt = (v) => (v ? c.b64(v) : null);
    return {
      dhs_priv: c.b64(this.dhsPriv),
      dhs_pub: c.b64(this.dhsPub),
      dhr: opt(this.dhr),
      rk: c.b64(this.rk),
      cks: opt(this.cks),
      ckr: opt(this.ckr),
      ns: this.ns,
      nr: this.nr,
      pn: this.pn,
      skipped: [...this.skipped].map(([k, v]) => {
        const i = k.lastIndexOf(":");
        return [k.slice(0, i), Number(k.slice(i + 1)), c.b64(v)];
      }),
      old_dhr: this.oldDhr.map(c.b64),
    };
  }

  static fromJson(d) {
    const opt = (v) => (v ? c.unb64(v) : null);
    return new Ratchet({
      dhsPriv: c.unb64(d.dhs_priv),
      dhsPub: c.unb64(d.dhs_pub),
      dhr: opt(d.dhr),
      rk: c.unb64(d.rk),
      cks: opt(d.cks),
      ckr: opt(d.ckr),
      ns: d.ns,
      nr: d.nr,
      pn: d.pn,
      skipped: new Map(d.skipped.map(([k, n, v]) => [`${k}:${n}`, c.unb64(v)])),
      oldDhr: (d.old_dhr || []).map((k) => c.unb64(k)),
    });
  }
}
