// Config.backup: the whole flat configuration as the nested JSON document the camera downloads.

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

// `A.B[0][1].C` → ['A', 'B', 0, 1, 'C']; null when the key is not well formed.
export function keySegments(key: string): Array<string | number> | null {
  const out: Array<string | number> = [];
  for (const part of key.split('.')) {
    const m = /^([^[\]]+)((?:\[\d+\])*)$/.exec(part);
    if (!m || !m[1]) return null;
    if (FORBIDDEN.has(m[1])) return null;
    out.push(m[1]);
    for (const idx of (m[2] ?? '').matchAll(/\[(\d+)\]/g)) {
      const n = Number(idx[1]);
      if (n > 65535) return null;
      out.push(n);
    }
  }
  return out;
}

// The backup file carries typed JSON values; the flat store only has strings.
function typed(value: string): Json {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^-?(0|[1-9]\d{0,14})(\.\d+)?$/.test(value)) return Number(value);
  return value;
}

function isContainer(v: Json | undefined): v is Json[] | { [key: string]: Json } {
  return typeof v === 'object' && v !== null;
}

// Holes of sparse arrays serialize as null.
export function toBackupDocument(entries: Iterable<[string, string]>): { [key: string]: Json } {
  const root: { [key: string]: Json } = {};
  for (const [fullKey, value] of entries) {
    const segs = keySegments(fullKey.replace(/^table\./, ''));
    if (!segs || segs.length === 0) continue;
    let node: Json[] | { [key: string]: Json } = root;
    let ok = true;
    for (let i = 0; i < segs.length && ok; i++) {
      const seg = segs[i] as string | number;
      const last = i === segs.length - 1;
      const wantArray = typeof segs[i + 1] === 'number';
      if (Array.isArray(node) !== (typeof seg === 'number')) { ok = false; break; }
      const container = node as Record<string | number, Json>;
      const existing = container[seg];
      if (last) {
        if (isContainer(existing)) { ok = false; break; }
        container[seg] = typed(value);
        break;
      }
      if (existing === undefined || existing === null) {
        const created: Json = wantArray ? [] : {};
        container[seg] = created;
        node = created as Json[] | { [key: string]: Json };
      } else if (isContainer(existing) && Array.isArray(existing) === wantArray) {
        node = existing;
      } else {
        ok = false;   // shape conflict: the line is left out of the backup
      }
    }
  }
  return root;
}
