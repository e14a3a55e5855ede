// HTTP authentication for the camera side (vendor document §3.5): parsing of WWW-Authenticate /
// Authentication-Info and building of Authorization headers, RFC 7616 (Digest) and RFC 7617
// (Basic). Pure: no I/O, no state; the client keeps the nonce bookkeeping.

import { hash as oneShotHash, randomBytes } from 'node:crypto';

/** One challenge of a WWW-Authenticate header: scheme lower-cased, parameter names lower-cased. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
  token68?: string;
}

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess';

export interface DigestChallenge {
  scheme: 'digest';
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: DigestAlgorithm;
  /** The qop we will use; undefined = RFC 2069 legacy (no qop offered). */
  qop?: 'auth' | 'auth-int';
  stale: boolean;
}

export interface BasicChallenge {
  scheme: 'basic';
  realm: string;
}

export type AuthChallenge = DigestChallenge | BasicChallenge;

const ALGORITHMS: Record<string, { name: DigestAlgorithm; hash: string; sess: boolean; rank: number }> = {
  'MD5': { name: 'MD5', hash: 'md5', sess: false, rank: 1 },
  'MD5-SESS': { name: 'MD5-sess', hash: 'md5', sess: true, rank: 1 },
  'SHA-256': { name: 'SHA-256', hash: 'sha256', sess: false, rank: 3 },
  'SHA-256-SESS': { name: 'SHA-256-sess', hash: 'sha256', sess: true, rank: 3 },
  'SHA-512-256': { name: 'SHA-512-256', hash: 'sha512-256', sess: false, rank: 2 },
  'SHA-512-256-SESS': { name: 'SHA-512-256-sess', hash: 'sha512-256', sess: true, rank: 2 },
};

const WS = /[ \t\r\n]/;
const TOKEN_END = /[ \t\r\n,="]/;

/**
 * Parses one or several WWW-Authenticate header values into challenges, in order. Several
 * challenges may share one header value (`Digest ..., Basic realm="x"`); commas inside quoted
 * strings are kept; names are case-insensitive; a token68 right after a scheme is kept. Never
 * throws: garbage yields fewer challenges. Tolerant of non-token bytes in unquoted values, such
 * as the typographic quotes of the vendor document's Basic example.
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (Array.isArray(header)) return header.flatMap((h) => parseWwwAuthenticate(h));
  const h = header;
  const out: Challenge[] = [];
  let cur: Challenge | undefined;
  let afterScheme = false;
  let i = 0;
  const skipWs = () => { while (i < h.length && WS.test(h[i]!)) i++; };
  const readToken = () => { const s = i; while (i < h.length && !TOKEN_END.test(h[i]!)) i++; return h.slice(s, i); };
  const readValue = (): string => {
    skipWs();
    if (h[i] === '"') {
      let v = '';
      i++;
      while (i < h.length && h[i] !== '"') {
        if (h[i] === '\\' && i + 1 < h.length) i++;
        v += h[i];
        i++;
      }
      i++; // closing quote (a missing one at the end is tolerated)
      return v;
    }
    const s = i;
    while (i < h.length && h[i] !== ',' && !WS.test(h[i]!)) i++;
    return h.slice(s, i);
  };
  while (i < h.length) {
    skipWs();
    if (i >= h.length) break;
    if (h[i] === ',') { i++; afterScheme = false; continue; }
    if (h[i] === '"' || h[i] === '=') { i++; readValue(); afterScheme = false; continue; }
    const tok = readToken();
    skipWs();
    if (h[i] === '=') {
      let j = i;
      while (h[j] === '=') j++;
      let k = j;
      while (k < h.length && WS.test(h[k]!)) k++;
      const nothingFollows = k >= h.length || h[k] === ',';
      if (cur !== undefined && afterScheme && nothingFollows) {
        cur.token68 = tok + '='.repeat(j - i); // `Scheme abc==`
        i = j;
      } else if (cur !== undefined && j - i === 1) {
        i = j;
        const value = nothingFollows ? '' : readValue();
        const name = tok.toLowerCase();
        if (!(name in cur.params)) cur.params[name] = value;
      } else {
        i = j;
        if (!nothingFollows) readValue();
      }
      afterScheme = false;
      continue;
    }
    if (cur !== undefined && afterScheme) {
      cur.token68 = tok;
      afterScheme = false;
      continue;
    }
    cur = { scheme: tok.toLowerCase(), params: Object.create(null) as Record<string, string> };
    out.push(cur);
    afterScheme = true;
  }
  return out;
}

/** Parses `Authentication-Info` (RFC 7616 §3.5): `nextnonce="...", qop=auth, rspauth="...", ...`. */
export function parseAuthenticationInfo(header: string | string[] | undefined): Record<string, string> {
  if (header === undefined) return {};
  const value = Array.isArray(header) ? header.join(', ') : header;
  // Reuse the challenge grammar by giving it a dummy scheme.
  const [ch] = parseWwwAuthenticate(`X ${value}`);
  return ch ? { ...ch.params } : {};
}

/**
 * Picks the challenge to answer: Digest over Basic; among Digest challenges the strongest
 * supported algorithm (SHA-256 when offered), first listed on a tie. Unknown algorithms and
 * challenges without realm/nonce are skipped. Returns null when nothing usable is offered.
 */
export function selectChallenge(challenges: Challenge[]): AuthChallenge | null {
  let best: DigestChallenge | null = null;
  let bestRank = 0;
  let basic: BasicChallenge | null = null;
  for (const ch of challenges) {
    if (ch.scheme === 'digest') {
      const d = toDigestChallenge(ch);
      if (d === null) continue;
      const rank = ALGORITHMS[d.algorithm.toUpperCase()]!.rank;
      if (rank > bestRank) { best = d; bestRank = rank; }
    } else if (ch.scheme === 'basic' && basic === null) {
      basic = { scheme: 'basic', realm: ch.params.realm ?? '' };
    }
  }
  return best ?? basic;
}

export function toDigestChallenge(ch: Challenge): DigestChallenge | null {
  const p = ch.params;
  if (p.nonce === undefined) return null;
  const alg = ALGORITHMS[(p.algorithm ?? 'MD5').toUpperCase()];
  if (alg === undefined) return null;
  let qop: DigestChallenge['qop'];
  if (p.qop !== undefined) {
    const offered = p.qop.split(',').map((s) => s.trim().toLowerCase());
    if (offered.includes('auth')) qop = 'auth';
    else if (offered.includes('auth-int')) qop = 'auth-int';
    else return null;
  }
  const out: DigestChallenge = {
    scheme: 'digest',
    realm: p.realm ?? '',
    nonce: p.nonce,
    algorithm: alg.name,
    stale: (p.stale ?? '').toLowerCase() === 'true',
  };
  if (qop !== undefined) out.qop = qop;
  if (p.opaque !== undefined) out.opaque = p.opaque;
  return out;
}

/** Convenience: the header(s) → the challenge we would answer, or null. */
export function parseChallenge(header: string | string[] | undefined): AuthChallenge | null {
  return selectChallenge(parseWwwAuthenticate(header));
}

/** nc is 8 lower-case hex digits (RFC 7616 §3.4). */
export function formatNc(nc: number): string {
  if (!Number.isInteger(nc) || nc < 1 || nc > 0xffffffff) throw new RangeError('nc out of range');
  return nc.toString(16).padStart(8, '0');
}

// One call into the random source per 256 cnonces instead of one per request: a per-call
// randomBytes showed up as 2% of the gateway's CPU under load.
const CNONCE_BYTES = 16;
let entropy = Buffer.alloc(0);
let entropyAt = 0;

export function newCnonce(): string {
  if (entropyAt + CNONCE_BYTES > entropy.length) {
    entropy = randomBytes(CNONCE_BYTES * 256);
    entropyAt = 0;
  }
  entropyAt += CNONCE_BYTES;
  return entropy.toString('hex', entropyAt - CNONCE_BYTES, entropyAt);
}

function hash(alg: string, s: string): string {
  // One-shot: a third of createHash's cost, three or four times per camera call.
  return oneShotHash(alg, s, 'hex');
}

function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export interface DigestInput {
  challenge: DigestChallenge;
  username: string;
  password: string;
  method: string;
  /** Exactly the request-target sent on the wire: path + '?' + query, never re-encoded. */
  uri: string;
  nc: number;
  cnonce?: string;
  /** Only for qop=auth-int; camera requests are GETs without a body. */
  body?: string;
}

/** The digest `response` value (RFC 7616 §3.4.1), exported for tests. */
export function digestResponse(input: DigestInput & { cnonce: string }): string {
  const { challenge: ch, username, password, method, uri, nc, cnonce } = input;
  const alg = ALGORITHMS[ch.algorithm.toUpperCase()]!;
  const H = (s: string) => hash(alg.hash, s);
  let ha1 = H(`${username}:${ch.realm}:${password}`);
  if (alg.sess) ha1 = H(`${ha1}:${ch.nonce}:${cnonce}`);
  const ha2 = ch.qop === 'auth-int' ? H(`${method}:${uri}:${H(input.body ?? '')}`) : H(`${method}:${uri}`);
  if (ch.qop === undefined) return H(`${ha1}:${ch.nonce}:${ha2}`);
  return H(`${ha1}:${ch.nonce}:${formatNc(nc)}:${cnonce}:${ch.qop}:${ha2}`);
}

/**
 * Authorization header value, RFC 7616 §3.4 formatting: quoted username, realm, nonce, uri,
 * response, cnonce, opaque; unquoted algorithm, qop and nc (some firmware refuses `qop="auth"`).
 */
export function digestAuthorization(input: DigestInput): string {
  const ch = input.challenge;
  const cnonce = input.cnonce ?? newCnonce();
  const response = digestResponse({ ...input, cnonce });
  // eslint-disable-next-line no-control-regex
  const plainUser = /^[\x20-\x7e]*$/.test(input.username);
  const parts = [
    plainUser ? `username=${quote(input.username)}` : `username*=UTF-8''${encodeURIComponent(input.username)}`,
    `realm=${quote(ch.realm)}`,
    `nonce=${quote(ch.nonce)}`,
    `uri=${quote(input.uri)}`,
    `algorithm=${ch.algorithm}`,
    `response=${quote(response)}`,
  ];
  if (ch.opaque !== undefined) parts.push(`opaque=${quote(ch.opaque)}`);
  if (ch.qop !== undefined) parts.push(`qop=${ch.qop}`, `nc=${formatNc(input.nc)}`, `cnonce=${quote(cnonce)}`);
  return `Digest ${parts.join(', ')}`;
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}
