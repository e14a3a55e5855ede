// Configuration (design.md §2): YAML file, CAMERA_URL, defaults, and clear errors.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../gateway/config.ts';
import { UserStore } from '../gateway/auth.ts';

const dir = mkdtempSync(join(tmpdir(), 'camgate-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function yamlFile(text: string): string {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return file;
}

describe('loadConfig', () => {
  it('defaults: port 8080 on 0.0.0.0, no camera (the simulator), a generated admin password', () => {
    const c = loadConfig([], {});
    assert.equal(c.port, 8080);
    assert.equal(c.host, '0.0.0.0');
    assert.deepEqual(c.cameras, []);
    assert.ok(c.generatedAdminPassword && c.generatedAdminPassword.length >= 16);
    assert.deepEqual(c.users[0], { name: 'admin', password: c.generatedAdminPassword, role: 'admin' });
    assert.equal(c.docsPublic, true);
  });

  it('reads the ONVIF settings: a camera\'s own port, a public URL for XAddrs, discovery on or off', () => {
    const file = yamlFile(`
cameras:
  - { id: lobby, url: http://192.0.2.10, username: admin, password: pw, onvifPort: 8001 }
onvif:
  publicUrl: https://gw.example.com:8443/
  discovery: false
`);
    const c = loadConfig(['--config', file], { CAMGATE_ADMIN_PASSWORD: 'x' });
    assert.equal(c.cameras[0]!.onvifPort, 8001);
    assert.equal(c.onvifPublicUrl, 'https://gw.example.com:8443');
    assert.equal(c.discovery, false);
    assert.equal(loadConfig(['--config', file], { CAMGATE_ADMIN_PASSWORD: 'x', CAMGATE_DISCOVERY: '1' }).discovery, true);
    for (const bad of ['ftp://x', 'http://u:p@x', 'http://x/path', 'http://x/?q=1', 'not a url']) {
      assert.throws(() => loadConfig(['--config', yamlFile(`onvif: { publicUrl: "${bad}" }`)], { CAMGATE_ADMIN_PASSWORD: 'x' }), ConfigError, bad);
    }
    assert.throws(() => loadConfig(['--config', yamlFile('cameras: [{ id: a, url: http://x, username: u, password: p, onvifPort: 70000 }]')], { CAMGATE_ADMIN_PASSWORD: 'x' }), ConfigError);
  });

  it('takes one camera from CAMERA_URL with its credentials apart from the address', () => {
    const c = loadConfig([], { CAMERA_URL: 'https://admin:p%40ss%3Aw@192.0.2.7:8443', CAMERA_MODEL: 'WV-V1330LK', CAMGATE_ADMIN_PASSWORD: 'x', PORT: '9000', HOST: '127.0.0.1' });
    assert.deepEqual(c.cameras, [{ id: 'cam1', baseUrl: 'https://192.0.2.7:8443', username: 'admin', password: 'p@ss:w', model: 'WV-V1330LK' }]);
    assert.equal(c.port, 9000);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.generatedAdminPassword, undefined);
  });

  it('reads cameras, users, tokens and docs from a YAML file (--config or CAMGATE_CONFIG)', () => {
    const file = yamlFile(`
cameras:
  - { id: lobby, url: http://192.0.2.10, username: admin, password: secret, model: WV-V2530L1, name: Lobby }
  - { id: yard, url: "http://u:v@192.0.2.11:8080" }
users:
  - { name: olga, password: pw, role: operator }
tokens:
  - { name: ha, token: 0123456789abcdef0123, role: viewer }
docs: { public: false }
`);
    for (const c of [loadConfig(['--config', file], {}), loadConfig([], { CAMGATE_CONFIG: file })]) {
      assert.equal(c.cameras.length, 2);
      assert.deepEqual(c.cameras[0], { id: 'lobby', baseUrl: 'http://192.0.2.10', username: 'admin', password: 'secret', model: 'WV-V2530L1', name: 'Lobby' });
      assert.equal(c.cameras[1]!.model, 'WV-V2530LK');
      assert.equal(c.cameras[1]!.password, 'v');
      assert.equal(c.docsPublic, false);
      const store = new UserStore(c.users, c.tokens);
      assert.equal(store.authenticate('Basic ' + Buffer.from('olga:pw').toString('base64'))?.role, 'operator');
      assert.equal(store.authenticate('Bearer 0123456789abcdef0123')?.name, 'ha');
      assert.equal(store.authenticate('Bearer 0123456789abcdef0124'), undefined);
      assert.equal(store.authenticate('Basic ' + Buffer.from('olga:wrong').toString('base64')), undefined);
    }
  });

  it('refuses a bad configuration with a message that names the place', () => {
    const cases: Array<[string, RegExp]> = [
      ['cameras: [{ id: "bad id", url: "http://u:p@h" }]', /camera id/],
      ['cameras: [{ id: a, url: "ftp://h" }]', /http/],
      ['cameras: [{ id: a, url: "http://h" }]', /user name/],
      ['cameras: [{ id: a, url: "http://u:p@h", model: X1 }]', /model/],
      ['cameras: [{ id: a, url: "http://u:p@h" }, { id: a, url: "http://u:p@h" }]', /twice/],
      ['users: [{ name: a, password: b, role: root }]', /role/],
      ['tokens: [{ name: a, token: short, role: viewer }]', /16 characters/],
      ['port: 99999', /port/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => loadConfig(['--config', yamlFile(text)], {}), (err: unknown) => err instanceof ConfigError && message.test(err.message), text);
    }
    assert.throws(() => loadConfig(['--config', join(dir, 'missing.yaml')], {}), /cannot read/);
  });

  it('never puts a camera password into an error message', () => {
    try {
      loadConfig([], { CAMERA_URL: 'gopher://admin:TopSecret1@h' });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(!(err as Error).message.includes('TopSecret1'));
    }
  });
});
