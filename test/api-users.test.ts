// §4.12 user management through buildApp, against the stateful simulator over HTTP: the account
// lifecycle, roles, refusals before any camera request, camera refusals mapped to the catalog,
// and passwords that reach the camera but never an answer or a log line.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { CameraClient } from '../adapters/cgi/client.ts';
import { parseRequestUrl } from '../simulator/query.ts';
import { basic, startStack, USERS, type Stack } from './stack.ts';

let stack: Stack;
const admin = basic(USERS.admin);
const operator = basic(USERS.operator);
const viewer = basic(USERS.viewer);
const CAM = '/api/v1/cameras/cam1';

// Characters that need percent-encoding, so that an encoded copy in a log would also be caught.
const SECRET = 'Pw d+#%é-first';
const SECRET2 = 'Second:pw/+2';

before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack.close();
});

/** The parameters of the camera requests with this action, decoded as the camera decodes them. */
function cameraCalls(action: string): Array<Map<string, string>> {
  return stack.sim.requestLog
    .filter((r) => r.authorized && r.rawUrl.startsWith('/cgi-bin/userManager.cgi?'))
    .map((r) => new Map(parseRequestUrl(r.rawUrl).params))
    .filter((p) => p.get('action') === action);
}

function assertNoSecret(text: string, where: string): void {
  for (const secret of [SECRET, SECRET2]) {
    for (const form of [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)]) {
      assert.ok(!text.includes(form), `${where} contains a password`);
    }
  }
}

describe('the account lifecycle', () => {
  const answers: string[] = [];
  const record = (res: request.Response): request.Response => {
    answers.push(res.text ?? '');
    return res;
  };

  it('creates, lists, reads, changes, re-passwords and deletes an account', async () => {
    stack.sim.resetStats();
    const created = record(
      await request(stack.app)
        .post(`${CAM}/users`)
        .set('Authorization', admin)
        .send({ user: { Name: 'george', Password: SECRET, Group: 'user', Sharable: true, Memo: 'night shift' } }),
    );
    assert.equal(created.status, 204, created.text);
    const add = cameraCalls('addUser');
    assert.equal(add.length, 1);
    assert.equal(add[0]!.get('user.Name'), 'george');
    assert.equal(add[0]!.get('user.Password'), SECRET, 'the password reaches the camera intact');
    assert.equal(add[0]!.get('user.Group'), 'user');
    assert.equal(add[0]!.get('user.Sharable'), 'true');

    const list = record(await request(stack.app).get(`${CAM}/users`).set('Authorization', admin));
    assert.equal(list.status, 200, list.text);
    const george = list.body.users.find((u: { Name: string }) => u.Name === 'george');
    assert.ok(george, 'the list shows the new account');
    assert.equal(george.Group, 'user');
    assert.equal(george.Memo, 'night shift');
    assert.equal(george.Sharable, true);
    assert.equal(george.Reserved, false);
    assert.equal(typeof george.Id, 'number');
    assert.ok(list.body.users.some((u: { Name: string }) => u.Name === 'admin'), 'the seeded accounts are still there');
    assert.ok(!('Password' in george));

    const one = record(await request(stack.app).get(`${CAM}/users/george`).set('Authorization', admin));
    assert.equal(one.status, 200, one.text);
    assert.equal(one.body.user.Name, 'george');
    assert.equal(one.body.user.AuthList, 'Monitor,Replay', 'a user-group account carries the group authorities');

    stack.sim.resetStats();
    const patched = record(
      await request(stack.app).patch(`${CAM}/users/george`).set('Authorization', admin).send({ user: { Memo: 'day shift' } }),
    );
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.user.Memo, 'day shift');
    assert.equal(patched.body.user.Group, 'user', 'fields not sent stay as they were');
    const modify = stack.sim.requestLog.filter((r) => r.authorized && r.rawUrl.includes('action=modifyUser'));
    assert.deepEqual(
      modify.map((r) => r.rawUrl),
      ['/cgi-bin/userManager.cgi?action=modifyUser&name=george&user.Memo=day%20shift'],
      'only the field given is sent',
    );

    stack.sim.resetStats();
    const changed = record(
      await request(stack.app)
        .post(`${CAM}/users/george/password`)
        .set('Authorization', admin)
        .send({ oldPassword: SECRET, newPassword: SECRET2 }),
    );
    assert.equal(changed.status, 204, changed.text);
    const pw = cameraCalls('modifyPassword');
    assert.equal(pw.length, 1);
    assert.equal(pw[0]!.get('name'), 'george');
    assert.equal(pw[0]!.get('pwd'), SECRET2);
    assert.equal(pw[0]!.get('pwdOld'), SECRET);

    // The camera checks the current password: the first one is no longer it.
    const stale = record(
      await request(stack.app)
        .post(`${CAM}/users/george/password`)
        .set('Authorization', admin)
        .send({ oldPassword: SECRET, newPassword: 'whatever-3' }),
    );
    assert.equal(stale.status, 422, stale.text);
    assert.equal(stale.body.code, 'CAMERA_REJECTED');

    const deleted = record(await request(stack.app).delete(`${CAM}/users/george`).set('Authorization', admin));
    assert.equal(deleted.status, 204, deleted.text);

    const gone = record(await request(stack.app).get(`${CAM}/users/george`).set('Authorization', admin));
    assert.equal(gone.status, 422, gone.text);
    assert.equal(gone.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(gone.body.code, 'CAMERA_REJECTED');
    assert.equal(gone.body.cameraErrorId, 4);

    const again = record(await request(stack.app).delete(`${CAM}/users/george`).set('Authorization', admin));
    assert.equal(again.status, 422);
    const after = record(await request(stack.app).get(`${CAM}/users`).set('Authorization', admin));
    assert.ok(!after.body.users.some((u: { Name: string }) => u.Name === 'george'), 'the list no longer shows it');
  });

  it('never answers or logs a password', () => {
    assert.ok(answers.length >= 9);
    answers.forEach((text, i) => assertNoSecret(text, `answer ${i}`));
    assert.ok(stack.logs.length > 0);
    assertNoSecret(stack.logs.join('\n'), 'the gateway log');
  });
});

describe('roles', () => {
  it('refuses every change to a non-admin with 403 before any camera request', async () => {
    const writes = [
      () => request(stack.app).post(`${CAM}/users`).send({ user: { Name: 'eve', Password: SECRET, Group: 'admin', Sharable: true } }),
      () => request(stack.app).patch(`${CAM}/users/admin`).send({ user: { Group: 'user' } }),
      () => request(stack.app).delete(`${CAM}/users/888888`),
      () => request(stack.app).post(`${CAM}/users/admin/password`).send({ oldPassword: SECRET, newPassword: SECRET2 }),
    ];
    for (const auth of [operator, viewer]) {
      for (const write of writes) {
        stack.sim.resetStats();
        const res = await write().set('Authorization', auth);
        assert.equal(res.status, 403, res.text);
        assert.equal(res.body.code, 'FORBIDDEN');
        assert.equal(stack.sim.stats.requests, 0);
      }
    }
  });

  it('lets an operator read, and refuses a viewer', async () => {
    for (const path of ['/users', '/users/admin', '/active-users', '/groups', '/groups/admin']) {
      const ok = await request(stack.app).get(CAM + path).set('Authorization', operator);
      assert.equal(ok.status, 200, `${path}: ${ok.text}`);
      const no = await request(stack.app).get(CAM + path).set('Authorization', viewer);
      assert.equal(no.status, 403, path);
    }
  });
});

describe('refusals', () => {
  it('refuses a bad user name with 400 and zero camera requests', async () => {
    const cases: Array<[() => request.Test, string]> = [
      [() => request(stack.app).post(`${CAM}/users`).send({ user: { Name: 'bad name', Password: 'p', Group: 'user', Sharable: true } }), '/user/Name'],
      [() => request(stack.app).post(`${CAM}/users`).send({ user: { Name: 'a&action=reboot', Password: 'p', Group: 'user', Sharable: true } }), '/user/Name'],
      [() => request(stack.app).post(`${CAM}/users`).send({ user: { Name: 'x'.repeat(32), Password: 'p', Group: 'user', Sharable: true } }), '/user/Name'],
      [() => request(stack.app).get(`${CAM}/users/bad%20name`), '/path/name'],
      [() => request(stack.app).delete(`${CAM}/users/${'x'.repeat(32)}`), '/path/name'],
      [() => request(stack.app).patch(`${CAM}/users/a%26b`).send({ user: { Memo: 'm' } }), '/path/name'],
      [() => request(stack.app).post(`${CAM}/users/%C3%A9/password`).send({ oldPassword: 'a', newPassword: 'b' }), '/path/name'],
    ];
    for (const [send, pointer] of cases) {
      stack.sim.resetStats();
      const res = await send().set('Authorization', admin);
      assert.equal(res.status, 400, `${pointer}: ${res.text}`);
      assert.equal(res.body.code, 'VALIDATION_FAILED');
      assert.ok(res.body.errors.some((e: { pointer: string }) => e.pointer === pointer), JSON.stringify(res.body.errors));
      assert.equal(stack.sim.stats.requests, 0);
    }
  });

  it('refuses bad passwords, groups and patches with 400, naming the field but not the value', async () => {
    const user = { Name: 'frank', Group: 'user', Sharable: true };
    const cases: Array<[object, string, string]> = [
      [{ user: { ...user, Password: `${SECRET}&x` } }, '/user/Password', 'users'],
      [{ user: { ...user, Password: `${SECRET}\r\n` } }, '/user/Password', 'users'],
      [{ user: { ...user, Password: SECRET + 'x'.repeat(32) } }, '/user/Password', 'users'],
      [{ user: { ...user, Password: '' } }, '/user/Password', 'users'],
      [{ user: { Name: 'frank', Group: 'user', Sharable: true } }, '/user', 'users'],
      [{ user: { ...user, Password: SECRET, Group: 'root' } }, '/user/Group', 'users'],
      [{ oldPassword: SECRET, newPassword: `${SECRET2}&pwd=x` }, '/newPassword', 'users/admin/password'],
      [{ newPassword: SECRET2 }, '', 'users/admin/password'],
    ];
    for (const [body, pointer, path] of cases) {
      stack.sim.resetStats();
      const res = await request(stack.app).post(`${CAM}/${path}`).set('Authorization', admin).send(body);
      assert.equal(res.status, 400, `${pointer}: ${res.text}`);
      assert.ok(res.body.errors.some((e: { pointer: string }) => e.pointer.startsWith(pointer)), `${pointer}: ${JSON.stringify(res.body.errors)}`);
      assertNoSecret(res.text, `the refusal at ${pointer}`);
      assert.equal(stack.sim.stats.requests, 0);
    }
    for (const body of [{}, { user: {} }, { user: { Name: 'x' } }, { user: { Password: SECRET } }]) {
      stack.sim.resetStats();
      const res = await request(stack.app).patch(`${CAM}/users/admin`).set('Authorization', admin).send(body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assertNoSecret(res.text, 'a patch refusal');
      assert.equal(stack.sim.stats.requests, 0);
    }
  });

  it('maps a duplicate name to the camera refusal (422, ErrorID 4)', async () => {
    const res = await request(stack.app)
      .post(`${CAM}/users`)
      .set('Authorization', admin)
      .send({ user: { Name: 'admin', Password: SECRET, Group: 'admin', Sharable: true } });
    assert.equal(res.status, 422, res.text);
    assert.equal(res.body.code, 'CAMERA_REJECTED');
    assert.equal(res.body.cameraErrorId, 4);
    assert.match(res.body.detail, /invalid param/i);
    assertNoSecret(res.text, 'the refusal');
  });

  it('maps the refusal to delete a reserved account, and an unknown group', async () => {
    const reserved = await request(stack.app).delete(`${CAM}/users/888888`).set('Authorization', admin);
    assert.equal(reserved.status, 422);
    const list = await request(stack.app).get(`${CAM}/users`).set('Authorization', admin);
    assert.ok(list.body.users.some((u: { Name: string }) => u.Name === '888888'));
    const group = await request(stack.app).get(`${CAM}/groups/nobody`).set('Authorization', admin);
    assert.equal(group.status, 422);
    assert.equal(group.body.code, 'CAMERA_REJECTED');
  });
});

describe('groups and sessions', () => {
  it('lists the groups and reads one', async () => {
    const all = await request(stack.app).get(`${CAM}/groups`).set('Authorization', admin);
    assert.equal(all.status, 200);
    assert.deepEqual(
      all.body.group.map((g: { Name: string }) => g.Name),
      ['admin', 'user'],
    );
    const one = await request(stack.app).get(`${CAM}/groups/user`).set('Authorization', admin);
    assert.equal(one.status, 200);
    assert.deepEqual(one.body.group, { Name: 'user', Memo: 'user group', AuthorityList: 'Monitor,Replay' });
  });

  it('lists the active users with the camera keys', async () => {
    const res = await request(stack.app).get(`${CAM}/active-users`).set('Authorization', admin);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.users[0], { name: 'admin', ip: '10.43.2.16', group: 'admin', clienttype: 'web3.0', logintime: '2011-11-08 09:51:03' });
  });

  it('a group change moves the account to the group authorities', async () => {
    const created = await request(stack.app)
      .post(`${CAM}/users`)
      .set('Authorization', admin)
      .send({ user: { Name: 'grace', Password: SECRET, Group: 'user', Sharable: false, Reserved: false } });
    assert.equal(created.status, 204);
    const res = await request(stack.app).patch(`${CAM}/users/grace`).set('Authorization', admin).send({ user: { Group: 'admin' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.user.Group, 'admin');
    assert.match(res.body.user.AuthList, /Account/);
    assert.equal(res.body.user.Sharable, false);
    assert.equal((await request(stack.app).delete(`${CAM}/users/grace`).set('Authorization', admin)).status, 204);
  });
});

describe("the login account's password", () => {
  it('is the digest password: changing it through the gateway changes what the camera accepts', async () => {
    const own = await startStack();
    const clients: CameraClient[] = [];
    const client = (password: string): CameraClient => {
      const c = new CameraClient({ baseUrl: own.sim.url, username: 'admin', password });
      clients.push(c);
      return c;
    };
    const query = { path: '/cgi-bin/userManager.cgi', query: 'action=getUserInfo&name=admin', read: true };
    try {
      const changed = await request(own.app)
        .post(`${CAM}/users/admin/password`)
        .set('Authorization', admin)
        .send({ oldPassword: 'cam-pass-Secret9', newPassword: SECRET2 });
      assert.equal(changed.status, 204, changed.text);

      const fresh = await client(SECRET2).request(query);
      assert.equal(fresh.status, 200);
      assert.match(fresh.body, /^user\.Name=admin\r\n/);
      await assert.rejects(client('cam-pass-Secret9').request(query), (err: { code?: string }) => err.code === 'CAMERA_AUTH_FAILED');

      // The gateway still holds the old one: the camera now refuses it.
      const cutOff = await request(own.app).get(`${CAM}/users`).set('Authorization', admin);
      assert.equal(cutOff.status, 502, cutOff.text);
      assert.equal(cutOff.body.code, 'CAMERA_AUTH_FAILED');
      assertNoSecret(own.logs.join('\n'), 'the gateway log');

      // The simulator's own setPassword is the same password: the account's old one now fits.
      own.sim.setPassword('reset-pw-4');
      const back = await client('reset-pw-4').request({
        path: '/cgi-bin/userManager.cgi',
        query: 'action=modifyPassword&name=admin&pwd=reset-pw-5&pwdOld=reset-pw-4',
        read: false,
      });
      assert.equal(back.body, 'OK\r\n');
      assert.equal((await client('reset-pw-5').request(query)).status, 200);
    } finally {
      for (const c of clients) await c.close();
      await own.close();
    }
  });
});
