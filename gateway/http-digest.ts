// HTTP Digest (RFC 7616, MD5, qop=auth) on the gateway's side, for ONVIF clients and for the
// snapshot URI that VMS fetch with Digest. Nonces are stateless (time + HMAC) and live 5 minutes;
// each (nonce, nc) pair is accepted once, in any order (clients pipeline on one nonce).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { digestResponse, parseWwwAuthenticate } from '../adapters/cgi/digest.ts';

export const DIGEST_REALM = 'camgate';
const NONCE_LIFETIME_MS = 5 * 60_000;
const MAX_NONCES = 50_000;

export type DigestResult = { ok: true; username: string } | { ok: false; stale: boolean };

/** The parameters of an `Authorization: Digest ...` header (same grammar as a challenge); undefined if it is not Digest. */
export function parseDigestHeader(header: string | undefined): Record<string, string> | undefined {
  const [credentials] = parseWwwAuthenticate(header);
  return credentials?.scheme === 'digest' ? credentials.params : undefined;
}

export class DigestVerifier {
  private readonly secret = randomBytes(32);
  /** nonce → the nc values already used with it. */
  private readonly used = new Map<string, { expires: number; nc: Set<string> }>();

  constructor(private readonly now: () => number = Date.now) {}

  challenge(stale = false): string {
    return `Digest realm="${DIGEST_REALM}", qop="auth", algorithm=MD5, nonce="${this.nonce()}"${stale ? ', stale=true' : ''}`;
  }

  private nonce(): string {
    const time = Buffer.alloc(8);
    time.writeBigUInt64BE(BigInt(this.now()));
    return Buffer.concat([time, this.mac(time)]).toString('base64url');
  }

  private mac(time: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(time).digest().subarray(0, 16);
  }

  /** Checks an Authorization header against `passwordOf`; `stale` asks the client to retry with a new nonce. */
  verify(method: string, header: string | undefined, passwordOf: (username: string) => string | undefined): DigestResult {
    const p = parseDigestHeader(header);
    if (!p) return { ok: false, stale: false };
    const username = p.username ?? '';
    const nonce = p.nonce ?? '';
    const nc = p.nc ?? '';
    const cnonce = p.cnonce ?? '';
    if (p.realm !== DIGEST_REALM || (p.algorithm ?? 'MD5').toUpperCase() !== 'MD5' || p.qop !== 'auth' || !/^[0-9a-fA-F]{8}$/.test(nc) || cnonce === '') return { ok: false, stale: false };
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== 24 || !timingSafeEqual(raw.subarray(8), this.mac(raw.subarray(0, 8)))) return { ok: false, stale: false };
    const issued = Number(raw.readBigUInt64BE(0));
    const now = this.now();
    const password = passwordOf(username);
    // The same computation the camera client signs with; an unknown user costs the same.
    const expected = digestResponse({
      challenge: { scheme: 'digest', realm: DIGEST_REALM, nonce, algorithm: 'MD5', qop: 'auth', stale: false },
      username, password: password ?? randomBytes(8).toString('hex'), method, uri: p.uri ?? '', nc: parseInt(nc, 16), cnonce,
    });
    const given = Buffer.from((p.response ?? '').toLowerCase());
    const good = password !== undefined && given.length === expected.length && timingSafeEqual(given, Buffer.from(expected));
    if (!good) return { ok: false, stale: false };
    // A right answer on an old nonce: the client only needs a fresh one (no new password prompt).
    if (now - issued > NONCE_LIFETIME_MS || issued > now + 1000) return { ok: false, stale: true };
    if (!this.firstUse(nonce, nc.toLowerCase(), issued + NONCE_LIFETIME_MS, now)) return { ok: false, stale: true };
    return { ok: true, username };
  }

  private firstUse(nonce: string, nc: string, expires: number, now: number): boolean {
    let entry = this.used.get(nonce);
    if (!entry) {
      if (this.used.size >= MAX_NONCES) {
        for (const [k, v] of this.used) if (v.expires <= now) this.used.delete(k);
        if (this.used.size >= MAX_NONCES) return false;
      }
      entry = { expires, nc: new Set() };
      this.used.set(nonce, entry);
    }
    if (entry.nc.has(nc) || entry.nc.size >= 10_000) return false;
    entry.nc.add(nc);
    return true;
  }
}
