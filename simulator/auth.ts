// HTTP Digest (MD5, qop=auth, strict nc) and Basic, with the camera's nonce table and lockout.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { errorBody } from './replies.ts';

export const NONCE_TABLE_SIZE = 64;
export const NONCE_LIFETIME_MS = 10 * 60_000;

export interface Lockout { failures: number; windowMs: number; durationMs: number }

export interface AuthConfig {
  scheme: 'digest' | 'basic';
  realm: string;
  username: string;
  password: string;
  lockout: Lockout;
  now?: () => number;
}

export interface AuthRequest {
  method: string;
  rawUrl: string;
  authorization: string | undefined;
  newNoncePerResponse: boolean;
}

export type AuthOutcome =
  | { ok: true }
  | {
      ok: false;
      reason: 'missing' | 'malformed' | 'stale' | 'failed' | 'locked' | 'wrongScheme';
      failedLogin: boolean;      // counts toward lockout and stats
      challenge: string;         // WWW-Authenticate value
      body: string;
    };

const md5 = (s: string): string => createHash('md5').update(s, 'utf8').digest('hex');

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

// `Digest k="v", k2=v2`; values may be quoted (with \-escapes) or tokens.
export function parseAuthParams(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0] === '') break;
    const key = (m[1] ?? '').toLowerCase();
    const value = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    out.set(key, value);
    if (re.lastIndex >= text.length) break;
  }
  return out;
}

interface NonceEntry { issuedAt: number; lastNc: number }

export const UNAUTHORIZED_BODY = '401 Unauthorized\r\n';
export const LOCKED_BODY = errorBody(0);

export class Authenticator {
  private readonly nonces = new Map<string, NonceEntry>();
  private readonly opaque = randomBytes(16).toString('hex');
  private failures: number[] = [];
  private lockedUntil = 0;
  private readonly now: () => number;

  constructor(private readonly config: AuthConfig) {
    this.now = config.now ?? Date.now;
  }

  setPassword(password: string): void {
    this.config.password = password;
  }

  get locked(): boolean {
    return this.now() < this.lockedUntil;
  }

  // A fresh challenge; each one issues a nonce into the bounded table.
  challenge(stale = false): string {
    if (this.config.scheme === 'basic') return `Basic realm="${this.config.realm}"`;
    const nonce = this.issueNonce();
    return `Digest realm="${this.config.realm}", qop="auth", nonce="${nonce}", opaque="${this.opaque}", stale=${stale ? 'TRUE' : 'FALSE'}`;
  }

  private issueNonce(): string {
    const nonce = `${this.now().toString(16)}${randomBytes(12).toString('hex')}`;
    while (this.nonces.size >= NONCE_TABLE_SIZE) {
      const oldest = this.nonces.keys().next().value;
      if (oldest === undefined) break;
      this.nonces.delete(oldest);
    }
    this.nonces.set(nonce, { issuedAt: this.now(), lastNc: 0 });
    return nonce;
  }

  private refuse(reason: Exclude<AuthOutcome, { ok: true }>['reason'], stale = false): AuthOutcome {
    const failedLogin = reason === 'failed';
    if (failedLogin) this.recordFailure();
    const locked = this.locked && reason !== 'missing';
    return {
      ok: false,
      reason: locked && reason !== 'failed' ? 'locked' : reason,
      failedLogin,
      challenge: this.challenge(stale && !locked),
      body: locked ? LOCKED_BODY : UNAUTHORIZED_BODY,
    };
  }

  private recordFailure(): void {
    const now = this.now();
    const { failures, windowMs, durationMs } = this.config.lockout;
    this.failures = this.failures.filter((t) => now - t < windowMs);
    this.failures.push(now);
    // Failures during a lockout keep counting but do not extend it.
    if (!this.locked && failures > 0 && this.failures.length >= failures) this.lockedUntil = now + durationMs;
  }

  check(req: AuthRequest): AuthOutcome {
    const header = req.authorization?.trim();
    if (!header) return this.refuse('missing');
    const space = header.indexOf(' ');
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const rest = space < 0 ? '' : header.slice(space + 1);
    // Like the camera: only the scheme it challenges with is accepted.
    if (scheme !== this.config.scheme) return this.refuse('wrongScheme');
    return scheme === 'basic' ? this.checkBasic(rest) : this.checkDigest(rest, req);
  }

  private checkBasic(token: string): AuthOutcome {
    const decoded = Buffer.from(token.trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return this.refuse('malformed');
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const good = safeEqual(user, this.config.username) && safeEqual(password, this.config.password);
    if (!good) return this.refuse('failed');
    if (this.locked) return this.refuse('locked');
    return { ok: true };
  }

  private checkDigest(text: string, req: AuthRequest): AuthOutcome {
    const p = parseAuthParams(text);
    const username = p.get('username');
    const realm = p.get('realm');
    const nonce = p.get('nonce');
    const uri = p.get('uri');
    const response = p.get('response');
    const qop = p.get('qop');
    const nc = p.get('nc');
    const cnonce = p.get('cnonce');
    const algorithm = p.get('algorithm');
    const opaque = p.get('opaque');
    if (username === undefined || realm === undefined || nonce === undefined || uri === undefined ||
        response === undefined || qop === undefined || nc === undefined || cnonce === undefined) {
      return this.refuse('malformed');
    }
    if ((algorithm !== undefined && algorithm.toUpperCase() !== 'MD5') || qop !== 'auth' ||
        !/^[0-9a-fA-F]{8}$/.test(nc) || (opaque !== undefined && opaque !== this.opaque)) {
      return this.refuse('malformed');
    }
    // The digest covers exactly the URI sent; anything else is a client bug, not a bad password.
    if (uri !== req.rawUrl || realm !== this.config.realm) return this.refuse('malformed');
    const ha1 = md5(`${username}:${realm}:${this.config.password}`);
    const ha2 = md5(`${req.method}:${uri}`);
    const expected = md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`);
    if (!safeEqual(username, this.config.username) || !safeEqual(response.toLowerCase(), expected)) {
      return this.refuse('failed');
    }
    if (this.locked) return this.refuse('locked');
    const entry = this.nonces.get(nonce);
    if (!entry || this.now() - entry.issuedAt > NONCE_LIFETIME_MS) {
      if (entry) this.nonces.delete(nonce);
      return this.refuse('stale', true);
    }
    const count = parseInt(nc, 16);
    if (count <= entry.lastNc) return this.refuse('stale', true);
    entry.lastNc = count;
    if (req.newNoncePerResponse) this.nonces.delete(nonce);
    return { ok: true };
  }
}
