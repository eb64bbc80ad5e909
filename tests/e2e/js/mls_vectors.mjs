// ts-mls (the MLS library the browser bundles) against the published RFC 9420 test vectors in
// tests/vectors/mls-rfc9420. Run by tests/e2e/test_mls_vectors.py; prints one JSON report:
// {families: {name: {ran, failed, failures: [...]}}, skipped_suites: {id: count}}.
//
// A case runs for every cipher suite ts-mls can instantiate with the packages installed (suite 1,
// the one the web client uses, needs nothing beyond ts-mls); cases of suites it cannot load are
// counted as skipped, never as passed. ts-mls's root export has no tree math or key-schedule
// internals, so those come from its published subpath modules ("ts-mls/<module>.js").
import { readFileSync } from "node:fs";

import { getCiphersuiteImpl, decodeMlsMessage } from "ts-mls";
import { getCiphersuiteFromId, getCiphersuiteNameFromId } from "ts-mls/crypto/ciphersuite.js";
import { signWithLabel, verifyWithLabel } from "ts-mls/crypto/signature.js";
import { refhash } from "ts-mls/crypto/hash.js";
import { deriveSecret, deriveTreeSecret, expandWithLabel } from "ts-mls/crypto/kdf.js";
import { decryptWithLabel, encryptWithLabel } from "ts-mls/crypto/hpke.js";
import { left, right, parent, sibling, root, nodeWidth, toNodeIndex, toLeafIndex, leafToNodeIndex } from "ts-mls/treemath.js";
import { encodeGroupContext } from "ts-mls/groupContext.js";
import { initializeEpoch, mlsExporter } from "ts-mls/keySchedule.js";
import { expandSenderDataKey, expandSenderDataNonce } from "ts-mls/sender.js";
import { createSecretTree, deriveKey, deriveNonce, ratchetUntil } from "ts-mls/secretTree.js";
import { defaultKeyRetentionConfig } from "ts-mls/keyRetentionConfig.js";
import { defaultPaddingConfig } from "ts-mls/paddingConfig.js";
import { defaultCapabilities } from "ts-mls/defaultCapabilities.js";
import { protect, protectApplicationData, protectProposal, unprotectPrivateMessage } from "ts-mls/messageProtection.js";
import { protectProposalPublic, protectPublicMessage, unprotectPublicMessage } from "ts-mls/messageProtectionPublic.js";
import { createContentCommitSignature } from "ts-mls/framedContent.js";
import { decodeProposal, encodeProposal } from "ts-mls/proposal.js";
import { decodeCommit, encodeCommit } from "ts-mls/commit.js";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { verifyGroupInfoConfirmationTag, verifyGroupInfoSignature } from "ts-mls/groupInfo.js";
import { decryptGroupInfo, decryptGroupSecrets } from "ts-mls/welcome.js";
import { addLeafNode, decodeRatchetTree, encodeRatchetTree, removeLeafNode, updateLeafNode } from "ts-mls/ratchetTree.js";
import { treeHashRoot } from "ts-mls/treeHash.js";
import { decodeAuthenticatedContent } from "ts-mls/authenticatedContent.js";
import { createConfirmedHash, createInterimHash } from "ts-mls/transcriptHash.js";
import { determineLength } from "ts-mls/codec/variableLength.js";
import { computePskSecret } from "ts-mls/presharedkey.js";

const DIR = new URL("../../vectors/mls-rfc9420/", import.meta.url);
const load = (name) => JSON.parse(readFileSync(new URL(name, DIR)));
const u = (h) => Uint8Array.from(Buffer.from(h, "hex"));
const hex = (b) => Buffer.from(b).toString("hex");

class Mismatch extends Error {}
function eq(got, want, what) {
  const g = got instanceof Uint8Array ? hex(got) : String(got);
  const w = want instanceof Uint8Array ? hex(want) : String(want);
  if (g !== w) throw new Mismatch(`${what}: got ${g.slice(0, 64)} want ${w.slice(0, 64)}`);
}
function ok(cond, what) {
  if (!cond) throw new Mismatch(what);
}
async function rejects(fn, what) {
  try {
    await fn();
  } catch {
    return;
  }
  throw new Mismatch(`${what} was accepted`);
}

const impls = new Map();
async function suite(id) {
  if (!impls.has(id)) {
    impls.set(id, getCiphersuiteImpl(getCiphersuiteFromId(id)).catch(() => null));
  }
  return impls.get(id);
}

const report = { families: {}, skipped_suites: {} };

async function family(name, cases, check) {
  const r = (report.families[name] = { ran: 0, failed: 0, failures: [] });
  for (const [i, t] of cases.entries()) {
    let impl = null;
    if (t.cipher_suite !== undefined) {
      impl = await suite(t.cipher_suite);
      if (impl === null) {
        report.skipped_suites[t.cipher_suite] = (report.skipped_suites[t.cipher_suite] ?? 0) + 1;
        continue;
      }
    }
    r.ran += 1;
    try {
      await check(t, impl);
    } catch (e) {
      r.failed += 1;
      r.failures.push({ case: i, cipher_suite: t.cipher_suite ?? null, error: String(e?.message ?? e) });
    }
  }
}

// RFC 9420 appendix C: out-of-range children/parents are errors, written as null in the file.
function treeFn(fn, expected, what) {
  let got;
  try {
    got = fn();
  } catch {
    got = null;
  }
  eq(got, expected, what);
}

await family("tree-math", load("tree-math.json"), (t) => {
  eq(nodeWidth(t.n_leaves), t.n_nodes, "n_nodes");
  eq(root(t.n_leaves), t.root, "root");
  t.left.forEach((want, i) => treeFn(() => left(toNodeIndex(i)), want, `left(${i})`));
  t.right.forEach((want, i) => treeFn(() => right(toNodeIndex(i)), want, `right(${i})`));
  t.parent.forEach((want, i) => treeFn(() => parent(toNodeIndex(i), t.n_leaves), want, `parent(${i})`));
  t.sibling.forEach((want, i) => treeFn(() => sibling(toNodeIndex(i), t.n_leaves), want, `sibling(${i})`));
});

await family("deserialization", load("deserialization.json"), (t) => {
  eq(determineLength(u(t.vlbytes_header)).length, t.length, "vlbytes length");
});

await family("crypto-basics", load("crypto-basics.json"), async (t, impl) => {
  const r = t.ref_hash;
  eq(await refhash(r.label, u(r.value), impl.hash), u(r.out), "RefHash");
  const d = t.derive_secret;
  eq(await deriveSecret(u(d.secret), d.label, impl.kdf), u(d.out), "DeriveSecret");
  const dt = t.derive_tree_secret;
  eq(await deriveTreeSecret(u(dt.secret), dt.label, dt.generation, dt.length, impl.kdf), u(dt.out), "DeriveTreeSecret");
  const x = t.expand_with_label;
  eq(await expandWithLabel(u(x.secret), x.label, u(x.context), x.length, impl.kdf), u(x.out), "ExpandWithLabel");
  const e = t.encrypt_with_label;
  const priv = await impl.hpke.importPrivateKey(u(e.priv));
  const pub = await impl.hpke.importPublicKey(u(e.pub));
  eq(await decryptWithLabel(priv, e.label, u(e.context), u(e.kem_output), u(e.ciphertext), impl.hpke), u(e.plaintext), "DecryptWithLabel");
  const sealed = await encryptWithLabel(pub, e.label, u(e.context), u(e.plaintext), impl.hpke);
  eq(await decryptWithLabel(priv, e.label, u(e.context), sealed.enc, sealed.ct, impl.hpke), u(e.plaintext), "EncryptWithLabel round trip");
  const s = t.sign_with_label;
  ok(await verifyWithLabel(u(s.pub), s.label, u(s.content), u(s.signature), impl.signature), "VerifyWithLabel(published signature)");
  const mine = await signWithLabel(u(s.priv), s.label, u(s.content), impl.signature);
  ok(await verifyWithLabel(u(s.pub), s.label, u(s.content), mine, impl.signature), "VerifyWithLabel(SignWithLabel)");
  const tampered = u(s.content + "00");
  ok(!(await verifyWithLabel(u(s.pub), s.label, tampered, u(s.signature), impl.signature)), "tampered content verified");
});

await family("secret-tree", load("secret-tree.suite1.json"), async (t, impl) => {
  const sd = t.sender_data;
  eq(await expandSenderDataKey(impl, u(sd.sender_data_secret), u(sd.ciphertext)), u(sd.key), "sender_data_key");
  eq(await expandSenderDataNonce(impl, u(sd.sender_data_secret), u(sd.ciphertext)), u(sd.nonce), "sender_data_nonce");
  const tree = await createSecretTree(t.leaves.length, u(t.encryption_secret), impl.kdf);
  for (const [leaf, gens] of t.leaves.entries()) {
    const node = tree[leafToNodeIndex(toLeafIndex(leaf))];
    for (const g of gens) {
      for (const [kind, start] of [["handshake", node.handshake], ["application", node.application]]) {
        const [secret] = await ratchetUntil(start, g.generation, defaultKeyRetentionConfig, impl.kdf);
        eq(await deriveKey(secret.secret, secret.generation, impl), u(g[`${kind}_key`]), `${kind} key leaf ${leaf} gen ${g.generation}`);
        eq(await deriveNonce(secret.secret, secret.generation, impl), u(g[`${kind}_nonce`]), `${kind} nonce leaf ${leaf} gen ${g.generation}`);
      }
    }
  }
});

await family("key-schedule", load("key-schedule.json"), async (t, impl) => {
  let initSecret = u(t.initial_init_secret);
  for (const [index, ep] of t.epochs.entries()) {
    const gc = {
      version: "mls10",
      cipherSuite: getCiphersuiteNameFromId(t.cipher_suite),
      groupId: u(t.group_id),
      epoch: BigInt(index),
      treeHash: u(ep.tree_hash),
      confirmedTranscriptHash: u(ep.confirmed_transcript_hash),
      extensions: [],
    };
    eq(encodeGroupContext(gc), u(ep.group_context), `epoch ${index} group_context`);
    const out = await initializeEpoch(initSecret, u(ep.commit_secret), gc, u(ep.psk_secret), impl.kdf);
    const ks = out.keySchedule;
    eq(out.joinerSecret, u(ep.joiner_secret), `epoch ${index} joiner_secret`);
    eq(out.welcomeSecret, u(ep.welcome_secret), `epoch ${index} welcome_secret`);
    eq(out.encryptionSecret, u(ep.encryption_secret), `epoch ${index} encryption_secret`);
    for (const [mine, theirs] of [
      ["initSecret", "init_secret"], ["senderDataSecret", "sender_data_secret"], ["exporterSecret", "exporter_secret"],
      ["externalSecret", "external_secret"], ["confirmationKey", "confirmation_key"], ["membershipKey", "membership_key"],
      ["resumptionPsk", "resumption_psk"], ["epochAuthenticator", "epoch_authenticator"],
    ]) {
      eq(ks[mine], u(ep[theirs]), `epoch ${index} ${theirs}`);
    }
    const { publicKey } = await impl.hpke.deriveKeyPair(u(ep.external_secret));
    eq(await impl.hpke.exportPublicKey(publicKey), u(ep.external_pub), `epoch ${index} external_pub`);
    const x = ep.exporter;
    eq(await mlsExporter(ks.exporterSecret, x.label, u(x.context), x.length, impl), u(x.secret), `epoch ${index} MLS-Exporter`);
    initSecret = ks.initSecret;
  }
});

await family("psk_secret", load("psk_secret.suite1.json"), async (t, impl) => {
  const psks = t.psks.map((p) => [{ psktype: "external", pskId: u(p.psk_id), pskNonce: u(p.psk_nonce) }, u(p.psk)]);
  eq(await computePskSecret(psks, impl), u(t.psk_secret), "psk_secret");
});

// The message-protection vectors give a sender at leaf 1 but no tree; the library looks the
// sender's leaf up, so it gets a tree whose leaf 1 is present (its keys are overridden by the
// vector's signature_pub).
const leafOneTree = [undefined, undefined, {
  nodeType: "leaf",
  leaf: {
    leafNodeSource: "commit", hpkePublicKey: new Uint8Array(), signaturePublicKey: new Uint8Array(),
    capabilities: defaultCapabilities(), parentHash: new Uint8Array(), extensions: [], signature: new Uint8Array(),
    credential: { credentialType: "basic", identity: new Uint8Array() },
  },
}];

await family("message-protection", load("message-protection.json"), async (t, impl) => {
  const gc = {
    version: "mls10",
    cipherSuite: getCiphersuiteNameFromId(t.cipher_suite),
    groupId: u(t.group_id),
    epoch: BigInt(t.epoch),
    treeHash: u(t.tree_hash),
    confirmedTranscriptHash: u(t.confirmed_transcript_hash),
    extensions: [],
  };
  const sigPub = u(t.signature_pub);
  const membership = u(t.membership_key);
  const senderData = u(t.sender_data_secret);
  const freshTree = () => createSecretTree(2, u(t.encryption_secret), impl.kdf);
  const openPublic = (pm) => unprotectPublicMessage(membership, gc, [], pm, impl, sigPub);
  const openPrivate = async (pm) =>
    unprotectPrivateMessage(senderData, pm, await freshTree(), leafOneTree, gc, defaultKeyRetentionConfig, impl, sigPub);
  const decoded = (h, wf) => {
    const m = decodeMlsMessage(u(h), 0)?.[0];
    ok(m && m.wireformat === wf, `decode ${wf}`);
    return m;
  };
  const proposal = decodeProposal(u(t.proposal), 0)[0];
  const commit = decodeCommit(u(t.commit), 0)[0];

  // The published protected forms open to the published contents.
  let c = await openPublic(decoded(t.proposal_pub, "mls_public_message").publicMessage);
  eq(encodeProposal(c.content.proposal), u(t.proposal), "proposal_pub");
  c = await openPublic(decoded(t.commit_pub, "mls_public_message").publicMessage);
  eq(encodeCommit(c.content.commit), u(t.commit), "commit_pub");
  let p = await openPrivate(decoded(t.proposal_priv, "mls_private_message").privateMessage);
  eq(encodeProposal(p.content.content.proposal), u(t.proposal), "proposal_priv");
  p = await openPrivate(decoded(t.commit_priv, "mls_private_message").privateMessage);
  eq(encodeCommit(p.content.content.commit), u(t.commit), "commit_priv");
  const app = await openPrivate(decoded(t.application_priv, "mls_private_message").privateMessage);
  eq(app.content.content.applicationData, u(t.application), "application_priv");

  // What ts-mls protects itself opens again to the same contents.
  const pubProp = await protectProposalPublic(u(t.signature_priv), membership, gc, new Uint8Array(), proposal, 1, impl);
  eq(encodeProposal((await openPublic(pubProp.publicMessage)).content.proposal), u(t.proposal), "protect proposal (public)");
  const tag = crypto.getRandomValues(new Uint8Array(impl.kdf.size));
  const sender = { leafIndex: 1, senderType: "member" };
  const signed = await createContentCommitSignature(gc, "mls_public_message", commit, sender, new Uint8Array(), u(t.signature_priv), impl.signature);
  const pubCommit = await protectPublicMessage(membership, gc, {
    wireformat: "mls_public_message", content: signed.framedContent,
    auth: { contentType: "commit", signature: signed.signature, confirmationTag: tag },
  }, impl);
  eq(encodeCommit((await openPublic(pubCommit)).content.commit), u(t.commit), "protect commit (public)");
  const privProp = await protectProposal(u(t.signature_priv), senderData, proposal, new Uint8Array(), gc, await freshTree(), 1, defaultPaddingConfig, impl);
  eq(encodeProposal((await openPrivate(privProp.privateMessage)).content.content.proposal), u(t.proposal), "protect proposal (private)");
  const privApp = await protectApplicationData(u(t.signature_priv), senderData, u(t.application), new Uint8Array(), gc, await freshTree(), 1, defaultPaddingConfig, impl);
  eq((await openPrivate(privApp.privateMessage)).content.content.applicationData, u(t.application), "protect application (private)");
  const signedPriv = await createContentCommitSignature(gc, "mls_private_message", commit, sender, new Uint8Array(), u(t.signature_priv), impl.signature);
  const privCommit = await protect(senderData, new Uint8Array(), gc, await freshTree(), {
    ...signedPriv.framedContent,
    auth: { contentType: "commit", signature: signedPriv.signature, confirmationTag: tag },
  }, 1, defaultPaddingConfig, impl);
  eq(encodeCommit((await openPrivate(privCommit.privateMessage)).content.content.commit), u(t.commit), "protect commit (private)");

  // RFC 9420 6.2: application data must never travel as a PublicMessage.
  await rejects(() => protectPublicMessage(membership, gc, {
    wireformat: "mls_public_message",
    content: { ...app.content.content, contentType: "application", groupId: gc.groupId, sender: { leafIndex: 0, senderType: "member" }, epoch: gc.epoch, authenticatedData: new Uint8Array() },
    auth: app.content.auth,
  }, impl), "application data as a PublicMessage");
  // A flipped ciphertext byte must not open.
  const bad = structuredClone(decoded(t.application_priv, "mls_private_message").privateMessage);
  bad.ciphertext[bad.ciphertext.length - 1] ^= 1;
  await rejects(() => openPrivate(bad), "tampered application ciphertext");
});

await family("welcome", load("welcome.json"), async (t, impl) => {
  const w = decodeMlsMessage(u(t.welcome), 0)?.[0];
  ok(w?.wireformat === "mls_welcome", "decode welcome");
  const kp = decodeMlsMessage(u(t.key_package), 0)?.[0];
  ok(kp?.wireformat === "mls_key_package", "decode key package");
  const ref = await makeKeyPackageRef(kp.keyPackage, impl.hash);
  ok(w.welcome.secrets.some((s) => hex(s.newMember) === hex(ref)), "welcome addresses the key package");
  const initPriv = await impl.hpke.importPrivateKey(u(t.init_priv));
  const secrets = await decryptGroupSecrets(initPriv, ref, w.welcome, impl.hpke);
  ok(secrets !== undefined, "decrypt group secrets");
  const psk = new Uint8Array(impl.kdf.size);
  const gi = await decryptGroupInfo(w.welcome, secrets.joinerSecret, psk, impl);
  ok(gi !== undefined, "decrypt group info");
  ok(await verifyGroupInfoConfirmationTag(gi, secrets.joinerSecret, psk, impl), "group info confirmation tag");
  ok(await verifyGroupInfoSignature(gi, u(t.signer_pub), impl.signature), "group info signature");
  const otherKey = u(t.signer_pub);
  otherKey[0] ^= 1;
  ok(!(await verifyGroupInfoSignature(gi, otherKey, impl.signature)), "group info signature under another key");
});

await family("tree-operations", load("tree-operations.json"), async (t, impl) => {
  const tree = decodeRatchetTree(u(t.tree_before), 0)[0];
  eq(await treeHashRoot(tree, impl.hash), u(t.tree_hash_before), "tree_hash_before");
  const p = decodeProposal(u(t.proposal), 0)[0];
  let after;
  if (p.proposalType === "add") after = addLeafNode(tree, p.add.keyPackage.leafNode)[0];
  else if (p.proposalType === "update") after = updateLeafNode(tree, p.update.leafNode, toLeafIndex(t.proposal_sender));
  else if (p.proposalType === "remove") after = removeLeafNode(tree, toLeafIndex(p.remove.removed));
  else throw new Mismatch(`unexpected proposal ${p.proposalType}`);
  eq(encodeRatchetTree(after), u(t.tree_after), "tree_after");
  eq(await treeHashRoot(after, impl.hash), u(t.tree_hash_after), "tree_hash_after");
});

await family("transcript-hashes", load("transcript-hashes.json"), async (t, impl) => {
  const ac = decodeAuthenticatedContent(u(t.authenticated_content), 0)?.[0];
  ok(ac?.content.contentType === "commit", "decode authenticated commit");
  const tag = ac.auth.confirmationTag;
  ok(await impl.hash.verifyMac(u(t.confirmation_key), tag, u(t.confirmed_transcript_hash_after)), "confirmation tag");
  const input = { wireformat: ac.wireformat, content: ac.content, signature: ac.auth.signature };
  eq(await createConfirmedHash(u(t.interim_transcript_hash_before), input, impl.hash), u(t.confirmed_transcript_hash_after), "confirmed_transcript_hash_after");
  eq(await createInterimHash(u(t.confirmed_transcript_hash_after), tag, impl.hash), u(t.interim_transcript_hash_after), "interim_transcript_hash_after");
});

process.stdout.write(JSON.stringify(report) + "\n");
