// userManager.cgi (vendor §4.12) with state: users and groups seeded from the document's example
// answers (getUserInfoAll, getGroupInfoAll), and the login account's password shared with the
// digest authenticator, so that changing it here changes what the camera accepts.
import type { Answers } from './answers.ts';
import type { CgiHandler } from './camera.ts';
import type { ParsedUrl } from './query.ts';
import { cameraError, ok, text, type Reply } from './replies.ts';

/** The account the simulator's HTTP auth accepts. */
export interface LoginAccount {
  readonly username: string;
  password(): string;
  setPassword(password: string): void;
}

interface User {
  id: number;
  name: string;
  password: string;          // unused for the login account, whose password lives in the authenticator
  group: string;
  memo: string;
  reserved: boolean;
  sharable: boolean;
  authList: string;
}

interface Group { name: string; memo: string; authorityList: string }

const PATH = '/cgi-bin/userManager.cgi';

/** `head[n].Key=value` lines of an example answer, by index. */
function indexedRecords(body: string, head: string): Array<Map<string, string>> {
  const records: Array<Map<string, string>> = [];
  for (const line of body.split(/\r?\n/)) {
    const m = /^([A-Za-z]+)\[(\d+)\]\.\s*([A-Za-z]+)=(.*)$/.exec(line);
    if (!m || m[1] !== head) continue;
    const i = Number(m[2]);
    (records[i] ??= new Map()).set(m[3]!, m[4]!);
  }
  return records.filter((r) => r !== undefined);
}

function exampleBody(answers: Answers, action: string): string {
  const a = answers.list.find((x) => x.path === PATH && x.params.some(([k, v]) => k === 'action' && v === action));
  return a?.body ?? '';
}

const BOOLEAN = /^(true|false)$/;

export class UserDirectory {
  private readonly users: User[] = [];
  private readonly groups: Group[] = [];

  constructor(answers: Answers, private readonly login: LoginAccount) {
    for (const g of indexedRecords(exampleBody(answers, 'getGroupInfoAll'), 'group')) {
      this.groups.push({ name: g.get('Name') ?? '', memo: g.get('Memo') ?? '', authorityList: g.get('AuthorityList') ?? '' });
    }
    if (this.groups.length === 0) this.groups.push({ name: 'admin', memo: 'administrator group', authorityList: '' });
    for (const u of indexedRecords(exampleBody(answers, 'getUserInfoAll'), 'users')) {
      const name = u.get('Name') ?? '';
      this.users.push({
        id: Number(u.get('Id') ?? this.nextId()),
        name,
        // A seeded user other than the login account has its own name as password (888888/888888
        // is this camera family's factory account).
        password: name,
        group: u.get('Group') ?? 'admin',
        memo: u.get('Memo') ?? '',
        reserved: u.get('Reserved') === 'true',
        sharable: u.get('Sharable') === 'true',
        authList: u.get('AuthList') ?? '',
      });
    }
    if (!this.find(login.username)) {
      this.users.unshift({
        id: this.nextId(), name: login.username, password: '', group: 'admin', memo: `${login.username} 's account`,
        reserved: true, sharable: true, authList: this.group('admin')?.authorityList ?? '',
      });
    }
  }

  private nextId(): number {
    return this.users.reduce((max, u) => Math.max(max, u.id), 0) + 1;
  }

  private find(name: string): User | undefined {
    return this.users.find((u) => u.name === name);
  }

  private group(name: string): Group | undefined {
    return this.groups.find((g) => g.name === name);
  }

  private passwordOf(user: User): string {
    return user.name === this.login.username ? this.login.password() : user.password;
  }

  /** The `user.X` fields of a request, checked; an Error reply when one is malformed. */
  private fields(url: ParsedUrl): { values: Map<string, string> } | { refused: Reply } {
    const values = new Map<string, string>();
    for (const [k, v] of url.params) if (k.startsWith('user.')) values.set(k.slice(5), v);
    for (const key of ['Sharable', 'Reserved']) {
      const v = values.get(key);
      if (v !== undefined && !BOOLEAN.test(v)) return { refused: cameraError(4) };
    }
    const group = values.get('Group');
    if (group !== undefined && !this.group(group)) return { refused: cameraError(4) };
    return { values };
  }

  addUser(url: ParsedUrl): Reply {
    const checked = this.fields(url);
    if ('refused' in checked) return checked.refused;
    const v = checked.values;
    const name = v.get('Name') ?? '';
    const password = v.get('Password') ?? '';
    if (name === '' || password === '' || this.find(name)) return cameraError(4);
    const group = v.get('Group') ?? 'user';
    this.users.push({
      id: this.nextId(), name, password, group,
      memo: v.get('Memo') ?? '',
      reserved: v.get('Reserved') === 'true',
      sharable: v.get('Sharable') === 'true',
      authList: this.group(group)?.authorityList ?? '',
    });
    return ok();
  }

  // The camera keeps reserved users and the account that is logged in.
  deleteUser(url: ParsedUrl): Reply {
    const user = this.find(url.get('name') ?? '');
    if (!user || user.reserved || user.name === this.login.username) return cameraError(4);
    this.users.splice(this.users.indexOf(user), 1);
    return ok();
  }

  // Only the fields sent change: the syntax lists every user.X field, but the document's own
  // example sends just user.Group, so the route's required list does not apply here.
  modifyUser(url: ParsedUrl): Reply {
    const name = url.get('name');
    if (name === undefined) return cameraError(1);
    const user = this.find(name);
    if (!user) return cameraError(4);
    const checked = this.fields(url);
    if ('refused' in checked) return checked.refused;
    const v = checked.values;
    if (v.has('Name') || v.has('Password')) return cameraError(4);
    if (v.size === 0) return cameraError(1);
    const group = v.get('Group');
    if (group !== undefined) {
      user.group = group;
      user.authList = this.group(group)?.authorityList ?? '';
    }
    const memo = v.get('Memo');
    if (memo !== undefined) user.memo = memo;
    const reserved = v.get('Reserved');
    if (reserved !== undefined) user.reserved = reserved === 'true';
    const sharable = v.get('Sharable');
    if (sharable !== undefined) user.sharable = sharable === 'true';
    return ok();
  }

  modifyPassword(url: ParsedUrl): Reply {
    const user = this.find(url.get('name') ?? '');
    const pwd = url.get('pwd') ?? '';
    if (!user || pwd === '' || url.get('pwdOld') !== this.passwordOf(user)) return cameraError(4);
    if (user.name === this.login.username) this.login.setPassword(pwd);
    else user.password = pwd;
    return ok();
  }

  getUserInfo(url: ParsedUrl): Reply {
    const user = this.find(url.get('name') ?? '');
    if (!user) return cameraError(4);
    return text(
      [
        `user.Name=${user.name}`,
        `user.Memo=${user.memo}`,
        `user.Group=${user.group}`,
        `user.Reserved=${String(user.reserved)}`,
        `user.Sharable=${String(user.sharable)}`,
        `user.AuthList=${user.authList}`,
      ].join('\r\n'),
    );
  }

  getUserInfoAll(): Reply {
    const lines: string[] = [];
    this.users.forEach((u, i) => {
      const p = `users[${i}].`;
      lines.push(
        `${p}Group=${u.group}`,
        `${p}Id=${u.id}`,
        `${p}Memo=${u.memo}`,
        `${p}Name=${u.name}`,
        `${p}Reserved=${String(u.reserved)}`,
        `${p}Sharable=${String(u.sharable)}`,
        `${p}AuthList=${u.authList}`,
      );
    });
    return text(lines.join('\r\n'));
  }

  // Vendor §4.12.4: "If the group named groupName does not exist, the device returns Error."
  getGroupInfo(url: ParsedUrl): Reply {
    const group = this.group(url.get('name') ?? '');
    if (!group) return cameraError(4);
    return text([`group.Name=${group.name}`, `group.Memo=${group.memo}`, `group.AuthorityList=${group.authorityList}`].join('\r\n'));
  }

  getGroupInfoAll(): Reply {
    const lines: string[] = [];
    this.groups.forEach((g, i) => {
      lines.push(`group[${i}].Name=${g.name}`, `group[${i}].Memo=${g.memo}`, `group[${i}].AuthorityList=${g.authorityList}`);
    });
    return text(lines.join('\r\n'));
  }
}

export const addUser: CgiHandler = ({ url, camera }) => camera.users.addUser(url);
export const deleteUser: CgiHandler = ({ url, camera }) => camera.users.deleteUser(url);
export const modifyUser: CgiHandler = ({ url, camera }) => camera.users.modifyUser(url);
export const modifyPassword: CgiHandler = ({ url, camera }) => camera.users.modifyPassword(url);
export const getUserInfo: CgiHandler = ({ url, camera }) => camera.users.getUserInfo(url);
export const getUserInfoAll: CgiHandler = ({ camera }) => camera.users.getUserInfoAll();
export const getGroupInfo: CgiHandler = ({ url, camera }) => camera.users.getGroupInfo(url);
export const getGroupInfoAll: CgiHandler = ({ camera }) => camera.users.getGroupInfoAll();
