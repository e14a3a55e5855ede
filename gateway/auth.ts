// Gateway users (not camera users): Basic passwords and named Bearer tokens, roles
// viewer < operator < admin (design.md §8).
import { hash, timingSafeEqual } from 'node:crypto';
import type { Role } from './spec.ts';
import type { TokenConfig, UserConfig } from './config.ts';

export interface Principal {
  name: string;
  role: Role;
  via: 'basic' | 'bearer' | 'digest' | 'wsse';
  /** The cameras this principal may use; absent = all (per-camera access lists). */
  cameras?: ReadonlySet<string>;
}

/** The one access-list check, for REST and ONVIF alike. */
export function mayAccessCamera(principal: Principal, cameraId: string): boolean {
  return principal.cameras === undefined || principal.cameras.has(cameraId);
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

function cameraSet(ids: readonly string[] | undefined): ReadonlySet<string> | undefined {
  return ids === undefined ? undefined : new Set(ids);
}

function principal(name: string, role: Role, via: Principal['via'], cameras: ReadonlySet<string> | undefined): Principal {
  return cameras === undefined ? { name, role, via } : { name, role, via, cameras };
}

// Secrets are kept only as SHA-256 digests and compared in constant time, so a heap dump or a
// timing probe does not give them away; hashing is cheap enough for every request.
function digest(secret: string): Buffer {
  return hash('sha256', secret, 'buffer');
}

export class UserStore {
  // The clear password is kept (in memory only) because ONVIF's UsernameToken PasswordDigest and
  // HTTP Digest can only be verified with it; Basic logins still compare digests.
  private readonly users = new Map<string, { hash: Buffer; password: string; role: Role; cameras: ReadonlySet<string> | undefined }>();
  private readonly tokens: Array<{ name: string; hash: Buffer; role: Role; cameras: ReadonlySet<string> | undefined }> = [];

  constructor(users: readonly UserConfig[], tokens: readonly TokenConfig[] = []) {
    for (const u of users) this.setUser(u.name, u.password, u.role, u.cameras);
    for (const t of tokens) this.tokens.push({ name: t.name, hash: digest(t.token), role: t.role, cameras: cameraSet(t.cameras) });
  }

  /**
   * Adds a user or changes one (ONVIF CreateUsers/SetUser act on gateway users). Without
   * `cameras` a changed user keeps its access list and a new one may use every camera.
   */
  setUser(name: string, password: string, role: Role, cameras?: readonly string[]): void {
    const list = cameras === undefined ? this.users.get(name)?.cameras : cameraSet(cameras);
    this.users.set(name, { hash: digest(password), password, role, cameras: list });
  }

  deleteUser(name: string): boolean {
    return this.users.delete(name);
  }

  listUsers(): Array<{ name: string; role: Role }> {
    return [...this.users].map(([name, u]) => ({ name, role: u.role }));
  }

  /** The password of a user, for Digest-style checks; undefined for unknown users. */
  passwordOf(name: string): string | undefined {
    return this.users.get(name)?.password;
  }

  /** The principal of a user whose credentials were checked elsewhere (HTTP Digest, UsernameToken). */
  principalOf(name: string, via: Principal['via']): Principal | undefined {
    const user = this.users.get(name);
    return user ? principal(name, user.role, via, user.cameras) : undefined;
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
    return timingSafeEqual(given, user.hash) ? principal(name, user.role, 'basic', user.cameras) : undefined;
  }

  private bearer(value: string): Principal | undefined {
    const given = digest(value);
    let found: Principal | undefined;
    for (const t of this.tokens) {
      if (timingSafeEqual(given, t.hash)) found = principal(t.name, t.role, 'bearer', t.cameras);
    }
    return found;
  }
}
