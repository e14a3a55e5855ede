// Gateway users (not camera users): Basic passwords and named Bearer tokens, roles
// viewer < operator < admin (design.md §8).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Role } from './spec.ts';
import type { TokenConfig, UserConfig } from './config.ts';

export interface Principal {
  name: string;
  role: Role;
  via: 'basic' | 'bearer';
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

// Secrets are kept only as SHA-256 digests and compared in constant time, so a heap dump or a
// timing probe does not give them away; hashing is cheap enough for every request.
function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export class UserStore {
  private readonly users = new Map<string, { hash: Buffer; role: Role }>();
  private readonly tokens: Array<{ name: string; hash: Buffer; role: Role }> = [];

  constructor(users: readonly UserConfig[], tokens: readonly TokenConfig[] = []) {
    for (const u of users) this.users.set(u.name, { hash: digest(u.password), role: u.role });
    for (const t of tokens) this.tokens.push({ name: t.name, hash: digest(t.token), role: t.role });
  }

  /** Reads an Authorization header; undefined when absent or wrong. */
  authenticate(header: string | undefined): Principal | undefined {
    if (!header) return undefined;
    const space = header.indexOf(' ');
    if (space < 0) return undefined;
    const scheme = header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (scheme === 'basic') return this.basic(value);
    if (scheme === 'bearer') return this.bearer(value);
    return undefined;
  }

  private basic(value: string): Principal | undefined {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const name = decoded.slice(0, colon);
    const user = this.users.get(name);
    // Hash even for an unknown user so that the answer takes the same time.
    const given = digest(decoded.slice(colon + 1));
    if (!user) {
      timingSafeEqual(given, given);
      return undefined;
    }
    return timingSafeEqual(given, user.hash) ? { name, role: user.role, via: 'basic' } : undefined;
  }

  private bearer(value: string): Principal | undefined {
    const given = digest(value);
    let found: Principal | undefined;
    for (const t of this.tokens) {
      if (timingSafeEqual(given, t.hash)) found = { name: t.name, role: t.role, via: 'bearer' };
    }
    return found;
  }
}
