// ONVIF user management acts on the gateway's users, which are the credentials ONVIF clients log
// in with (levels Administrator / Operator / User = roles admin / operator / viewer). Changes made
// here live in memory only (the YAML file is not rewritten): a restart brings back the file's users.
import type { Role } from '../../gateway/spec.ts';
import { invalidArg, OnvifFault } from './soap.ts';
import type { OnvifContext, OnvifOperation } from './service.ts';
import { child, children, el, textAt, type XmlNode } from './xml.ts';

export const MAX_NAME = 64;
export const MAX_PASSWORD = 64;

const LEVEL_ROLE: Record<string, Role> = { Administrator: 'admin', Operator: 'operator', User: 'viewer' };
const ROLE_LEVEL: Record<Role, string> = { admin: 'Administrator', operator: 'Operator', viewer: 'User' };
const USERNAME = /^[^\s:\u0000-\u001f\u007f]{1,64}$/;

interface UserArg {
  name: string;
  password: string | undefined;
  role: Role;
}

function userArgs(request: XmlNode): UserArg[] {
  const users = children(request, 'User');
  if (users.length === 0) throw invalidArg('at least one User is needed');
  return users.map((u) => {
    const name = textAt(u, 'Username') ?? '';
    const password = child(u, 'Password') ? (child(u, 'Password')!.text) : undefined;
    const level = textAt(u, 'UserLevel') ?? '';
    if (name.length > MAX_NAME) throw invalidArg(`user name longer than ${MAX_NAME} characters`, 'ter:UsernameTooLong');
    if (!USERNAME.test(name)) throw invalidArg(`'${name}' is not a user name (no spaces, colons or control characters)`);
    if (password !== undefined && password.length > MAX_PASSWORD) throw invalidArg(`password longer than ${MAX_PASSWORD} characters`, 'ter:PasswordTooLong');
    if (password !== undefined && password.length < 8) throw invalidArg('passwords need at least 8 characters', 'ter:Password');
    if (level === 'Anonymous') throw new OnvifFault('Sender', ['ter:OperationProhibited', 'ter:AnonymousNotAllowed'], 'anonymous users are not allowed');
    const role = LEVEL_ROLE[level];
    if (!role) throw invalidArg(`UserLevel '${level}' is not Administrator, Operator or User`);
    return { name, password, role };
  });
}

/** User management changes who may use every camera: an admin limited to some cameras may not. */
function fleetAdmin(ctx: OnvifContext): void {
  if (ctx.principal?.cameras !== undefined) {
    throw new OnvifFault('Sender', ['ter:NotAuthorized'], 'managing users needs an Administrator with access to every camera');
  }
}

function ensureAdminsRemain(ctx: OnvifContext, after: Map<string, Role | undefined>): void {
  const admins = ctx.users.listUsers().filter((u) => (after.has(u.name) ? after.get(u.name) : u.role) === 'admin');
  if (admins.length === 0) throw new OnvifFault('Sender', ['ter:OperationProhibited', 'ter:FixedUser'], 'the last Administrator cannot be removed or demoted');
}

export const userOperations: readonly OnvifOperation[] = [
  {
    name: 'GetUsers',
    access: 'admin',
    handle: async (_r, ctx) => {
      fleetAdmin(ctx);
      return el(
        'tds:GetUsersResponse',
        ctx.users.listUsers().map((u) => el('tds:User', [el('tt:Username', u.name), el('tt:UserLevel', ROLE_LEVEL[u.role])])),
      );
    },
  },
  {
    name: 'CreateUsers',
    access: 'admin',
    handle: async (request, ctx) => {
      fleetAdmin(ctx);
      const users = userArgs(request);
      const seen = new Set<string>();
      for (const u of users) {
        if (ctx.users.passwordOf(u.name) !== undefined || seen.has(u.name)) {
          throw new OnvifFault('Sender', ['ter:OperationProhibited', 'ter:UsernameClash'], `user '${u.name}' exists already`);
        }
        if (u.password === undefined) throw invalidArg(`user '${u.name}' needs a password`, 'ter:Password');
        seen.add(u.name);
      }
      for (const u of users) ctx.users.setUser(u.name, u.password!, u.role);
      return el('tds:CreateUsersResponse');
    },
  },
  {
    name: 'DeleteUsers',
    access: 'admin',
    handle: async (request, ctx) => {
      fleetAdmin(ctx);
      const names = children(request, 'Username').map((n) => n.text);
      if (names.length === 0) throw invalidArg('at least one Username is needed');
      for (const n of names) {
        if (ctx.users.passwordOf(n) === undefined) throw invalidArg(`no user '${n}'`, 'ter:UsernameMissing');
        if (n === ctx.principal?.name) throw invalidArg('a user cannot delete itself', 'ter:FixedUser');
      }
      ensureAdminsRemain(ctx, new Map(names.map((n) => [n, undefined])));
      for (const n of names) ctx.users.deleteUser(n);
      return el('tds:DeleteUsersResponse');
    },
  },
  {
    name: 'SetUser',
    access: 'admin',
    handle: async (request, ctx) => {
      fleetAdmin(ctx);
      const users = userArgs(request);
      for (const u of users) if (ctx.users.passwordOf(u.name) === undefined) throw invalidArg(`no user '${u.name}'`, 'ter:UsernameMissing');
      ensureAdminsRemain(ctx, new Map(users.map((u) => [u.name, u.role])));
      for (const u of users) ctx.users.setUser(u.name, u.password ?? ctx.users.passwordOf(u.name)!, u.role);
      return el('tds:SetUserResponse');
    },
  },
];
