// `npm start` with no configuration: the built-in simulator, /docs, /openapi.json and a General
// read answer within 10 s; SIGTERM stops it cleanly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

it('starts with no configuration and answers within 10 s', { timeout: 60_000 }, async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  for (const key of ['CAMERA_URL', 'CAMGATE_CONFIG', 'CAMGATE_ADMIN_PASSWORD']) delete env[key];
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line in 10 s: ${out} ${err}`)), 10_000);
      child.stdout.on('data', () => {
        const m = /listening on (http:\/\/[^\s]+)/.exec(out);
        if (m && /admin password[^:]*: (\S+)/.test(out)) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    const password = /admin password[^:]*: (\S+)/.exec(out)![1]!;
    const auth = { authorization: 'Basic ' + Buffer.from(`admin:${password}`).toString('base64') };

    const docs = await fetch(`${url}/docs/`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger-ui/i);
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { openapi: string };
    assert.equal(doc.openapi, '3.1.0');
    const general = await fetch(`${url}/api/v1/cameras/cam1/system/general`, { headers: auth });
    assert.equal(general.status, 200, await general.clone().text());
    const body = (await general.json()) as { General: { MachineName: string } };
    assert.equal(typeof body.General.MachineName, 'string');
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 10_000, `answered after ${Math.round(elapsed)} ms`);
    // Ready (every validator compiled) follows within the start-up budget of design.md §3.
    let ready = 0;
    for (let i = 0; i < 300 && ready !== 200; i++) {
      ready = (await fetch(`${url}/readyz`)).status;
      if (ready !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(ready, 200, 'ready within 30 s');
    // The generated password is printed once, never logged.
    assert.equal(out.split(password).length - 1, 1);
    assert.ok(!err.includes(password));
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, 'SIGTERM ends the process cleanly');
});
