// Local search over the decrypted DM history this browser holds. It runs entirely here: the
// rows come from the device state (kept in IndexedDB encrypted under the non-extractable
// wrapping key, see keystore.js) and nothing about the query or the results is sent anywhere.
// Matching is case- and accent-insensitive substring matching of every word of the query.

function fold(text) {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

// Folding can change lengths (e.g. "ﬁ"), so offsets are found on a per-character map.
function foldWithMap(text) {
  let folded = "";
  const map = [];
  for (let i = 0; i < text.length; ) {
    const ch = String.fromCodePoint(text.codePointAt(i));
    const f = fold(ch);
    for (let k = 0; k < f.length; k++) map.push(i);
    folded += f;
    i += ch.length;
  }
  map.push(text.length);
  return [folded, map];
}

export function terms(query) {
  return [...new Set(fold(String(query)).split(/\s+/).filter(Boolean))];
}

// → [{row, ranges: [[start, end], ...]}] newest first, for rows whose text holds every term.
export function search(rows, query, limit = 50) {
  const words = terms(query);
  if (!words.length) return [];
  const out = [];
  for (let i = rows.length - 1; i >= 0 && out.length < limit; i--) {
    const row = rows[i];
    if (typeof row.text !== "string" || row.deleted || row.error) continue;
    const [folded, map] = foldWithMap(row.text);
    const ranges = [];
    let all = true;
    for (const w of words) {
      let at = folded.indexOf(w);
      if (at < 0) {
        all = false;
        break;
      }
      while (at >= 0) {
        ranges.push([map[at], map[at + w.length]]);
        at = folded.indexOf(w, at + w.length);
      }
    }
    if (all) out.push({ row, ranges: merge(ranges) });
  }
  return out;
}

function merge(ranges) {
  ranges.sort((a, b) => a[0] - b[0]);
  const out = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([...r]);
  }
  return out;
}

// Text nodes and <mark>s for one result (no innerHTML: the text is someone else's message).
export function highlighted(text, ranges) {
  const parts = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (start > at) parts.push(document.createTextNode(text.slice(at, start)));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(start, end);
    parts.push(mark);
    at = end;
  }
  if (at < text.length) parts.push(document.createTextNode(text.slice(at)));
  return parts;
}
