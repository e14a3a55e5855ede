// WS-Security UsernameToken with PasswordDigest (pure), as ONVIF clients send it (design.md §6):
// found by namespace and local name whatever the prefixes, digest over the decoded Nonce, the raw
// Created string and the password; both Nonce and Created required; ±5 min skew; replays refused.
import { createHash, timingSafeEqual } from 'node:crypto';
import { NS } from './soap.ts';
import { child, type XmlNode } from './xml.ts';

export const MAX_SKEW_MS = 5 * 60_000;
const PASSWORD_DIGEST = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';

export interface UsernameToken {
  username: string;
  password: string;
  /** The Password element's Type attribute (absent means PasswordText). */
  type: string | undefined;
  nonce: string | undefined;
  created: string | undefined;
}

/** The UsernameToken in a SOAP Header, if any. */
export function readUsernameToken(header: XmlNode | undefined): UsernameToken | undefined {
  const security = child(header, 'Security', NS.wsse);
  const token = child(security, 'UsernameToken', NS.wsse);
  if (!token) return undefined;
  const password = child(token, 'Password', NS.wsse);
  return {
    username: child(token, 'Username', NS.wsse)?.text ?? '',
    password: password?.text ?? '',
    type: password?.attrs.get('Type'),
    nonce: child(token, 'Nonce', NS.wsse)?.text,
    created: child(token, 'Created', NS.wsu)?.text,
  };
}

export type TokenCheck = { ok: true; username: string } | { ok: false; reason: string };

/**
 * Verifies a token against the user's password. Only PasswordDigest: a PasswordText token would
 * carry the password in the clear over plain HTTP, so it is refused.
 */
export function verifyUsernameToken(
  token: UsernameToken,
  passwordOf: (username: string) => string | undefined,
  now: number,
  replays: ReplayCache,
  /** The device's own time as GetSystemDateAndTime gave it, when it differs from ours: clients sign with it. */
  deviceNow?: number,
): TokenCheck {
  if (token.type !== PASSWORD_DIGEST) return { ok: false, reason: 'only PasswordDigest tokens are accepted' };
  if (!token.nonce || !token.created) return { ok: false, reason: 'the token needs a Nonce and a Created time' };
  const created = Date.parse(token.created);
  if (!Number.isFinite(created)) return { ok: false, reason: 'Created is not a time' };
  const near = (t: number | undefined) => t !== undefined && Math.abs(created - t) <= MAX_SKEW_MS;
  if (!near(now) && !near(deviceNow)) return { ok: false, reason: 'Created is more than 5 minutes away from the device time (see GetSystemDateAndTime)' };
  const nonce = Buffer.from(token.nonce, 'base64');
  const secret = passwordOf(token.username);
  // Computed for unknown users too, so that the answer takes the same time.
  const expected = createHash('sha1').update(Buffer.concat([nonce, Buffer.from(token.created, 'utf8'), Buffer.from(secret ?? '', 'utf8')])).digest();
  const given = Buffer.from(token.password, 'base64');
  const match = given.length === expected.length && timingSafeEqual(given, expected);
  if (!match || secret === undefined) return { ok: false, reason: 'wrong user name or password' };
  if (!replays.firstUse(`${token.username}\u0000${token.nonce}\u0000${token.created}`, now)) {
    return { ok: false, reason: 'this token was already used' };
  }
  return { ok: true, username: token.username };
}

/**
 * Remembers (user, nonce, Created) for the skew window: within it a repeat is a replay; after it,
 * the Created check refuses the token anyway. Bounded so that a flood cannot grow it without end.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();
  constructor(private readonly limit = 100_000) {}

  firstUse(key: string, now: number): boolean {
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.limit) this.prune(now);
    if (this.seen.size >= this.limit) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    this.seen.set(key, now + 2 * MAX_SKEW_MS);
    return true;
  }

  private prune(now: number): void {
    for (const [k, expires] of this.seen) {
      if (expires <= now) this.seen.delete(k);
    }
  }
}

/** A client-side token, for tests and benchmarks: what ONVIF clients compute. */
export function usernameTokenXml(username: string, password: string, created: string, nonce: Buffer): string {
  const digest = createHash('sha1').update(Buffer.concat([nonce, Buffer.from(created), Buffer.from(password)])).digest('base64');
  return (
    `<wsse:Security xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}"><wsse:UsernameToken>` +
    `<wsse:Username>${username}</wsse:Username>` +
    `<wsse:Password Type="${PASSWORD_DIGEST}">${digest}</wsse:Password>` +
    `<wsse:Nonce>${nonce.toString('base64')}</wsse:Nonce><wsu:Created>${created}</wsu:Created>` +
    `</wsse:UsernameToken></wsse:Security>`
  );
}
