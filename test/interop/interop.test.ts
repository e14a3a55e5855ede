// ONVIF interop: four independent clients run a scripted session against one gateway (in front
// of the simulator) inside a private network namespace (test/interop/run.sh): discovery where
// the client can, the Profile S/T basics, imaging, a motion event through a pull point, a wrong
// password and a replayed token. Every SOAP answer is validated against the official schemas
// (xsd.ts), and the pass table goes to test-results/interop/table.md (README "ONVIF interop").
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'undici';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { endpointReference } from '../../adapters/onvif/identity.ts';
import { validateSoap } from './xsd.ts';
import {
  ADMIN,
  CAMERA_ID,
  CAMERA_PASSWORD,
  checkPrerequisites,
  ONVIF_DIR,
  OPERATIONS,
  passTable,
  RESULTS_DIR,
  startInterop,
  writeResults,
  xsdCheck,
  answerName,
  type ClientName,
  type Interop,
  type Operation,
  type OpResult,
} from './harness.ts';
import { onvifNpmLogin, onvifNpmSession } from './onvif-npm.ts';
import { onvifUtilSession } from './onvif-util.ts';
import { soapNpmSession } from './soap-npm.ts';

const HERE = new URL('.', import.meta.url).pathname;

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
    });
  });
}

type Results = Partial<Record<Operation, OpResult>>;

/** Records a client's results (with the XSD verdict on the answers it received) and asserts each operation. */
async function conclude(t: TestContext, env: Interop, client: ClientName, mark: number, results: Results): Promise<void> {
  results.XsdValid = await xsdCheck(env.answers.slice(mark));
  writeResults(client, results);
  for (const op of OPERATIONS) {
    await t.test(op, () => {
      const r = results[op];
      assert.ok(r, `${client}: ${op} was not run`);
      assert.notEqual(r.status, 'fail', `${client}: ${op}: ${r.detail}`);
    });
  }
}

describe('ONVIF interop', { timeout: 170_000 }, () => {
  let env: Interop;

  before(async () => {
    checkPrerequisites();
    env = await startInterop();
  });

  after(async () => {
    await env?.stop();
    writeFileSync(join(RESULTS_DIR, 'table.md'), `${passTable()}\n`);
  });

  test('the gateway multicasts Hello for its camera when it starts', async () => {
    const epr = endpointReference(CAMERA_ID);
    const deadline = Date.now() + 3000;
    while (!env.multicast.some((m) => m.includes('/discovery/Hello') && m.includes(epr)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const hello = env.multicast.find((m) => m.includes('/discovery/Hello') && m.includes(epr));
    assert.ok(hello, `no Hello among ${env.multicast.length} multicast messages`);
    assert.match(hello, new RegExp(`<d:XAddrs>${env.deviceXAddr.replace(/[.]/g, '\\.')}</d:XAddrs>`));
  });

  test('zeep (python3-zeep, strict, official WSDLs)', async (t) => {
    const mark = env.answers.length;
    const script = join(HERE, 'zeep_session.py');
    const out = await run('/usr/bin/python3', [script, env.deviceXAddr, ADMIN.name, ADMIN.password, ONVIF_DIR, env.sim.url], 90_000);
    const last = out.stdout.trim().split('\n').pop() ?? '';
    let results: Results;
    try {
      results = (JSON.parse(last) as { ops: Results }).ops;
    } catch {
      assert.fail(`zeep session did not report (exit ${out.code}):\n${out.stderr.slice(-3000)}\n${out.stdout.slice(-2000)}`);
    }
    results.Discovery = { status: 'n/a', detail: 'zeep has no WS-Discovery client' };
    results.Soap11 = { status: 'n/a', detail: 'the ONVIF WSDLs bind SOAP 1.2 only' };
    await conclude(t, env, 'zeep', mark, results);
  });

  test('onvif (npm, the library inside UniFi Protect)', async (t) => {
    const mark = env.answers.length;
    const results = await onvifNpmSession(env);
    await conclude(t, env, 'onvif (npm)', mark, results);
  });

  test('onvif-util (Debian onvif-tools, libonvif): WS-Discovery, then its commands', async (t) => {
    const mark = env.answers.length;
    const results = await onvifUtilSession(env);
    await conclude(t, env, 'onvif-util', mark, results);
  });

  test('soap (npm) with the official WSDLs and a WS-Security digest', async (t) => {
    const mark = env.answers.length;
    const results = await soapNpmSession(env);
    await conclude(t, env, 'soap (npm)', mark, results);
  });

  test('a camera added at run time is announced with Hello, and with Bye when it is removed', async () => {
    const headers = { authorization: `Basic ${Buffer.from(`${ADMIN.name}:${ADMIN.password}`).toString('base64')}`, 'content-type': 'application/json' };
    const epr = endpointReference('cam2');
    const seen = async (kind: string) => {
      const deadline = Date.now() + 8000;
      while (Date.now() < deadline) {
        const m = env.multicast.find((x) => x.includes(`/discovery/${kind}`) && x.includes(epr));
        if (m) return m;
        await new Promise((r) => setTimeout(r, 100));
      }
      return undefined;
    };
    const added = await request(`${env.origin}/api/v1/cameras`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ id: 'cam2', url: env.sim.url, username: 'admin', password: CAMERA_PASSWORD, model: 'WV-V2530LK', name: 'Second' }),
    });
    const addedBody = await added.body.text();
    assert.ok(added.statusCode >= 200 && added.statusCode < 300, `adding cam2: HTTP ${added.statusCode} ${addedBody}`);
    const hello = await seen('Hello');
    assert.ok(hello, 'no Hello for cam2');
    assert.ok(hello.includes(`${env.origin}/onvif/cam2/device_service`), hello);
    const removed = await request(`${env.origin}/api/v1/cameras/cam2`, { method: 'DELETE', headers: { authorization: headers.authorization } });
    await removed.body.dump();
    assert.ok(removed.statusCode >= 200 && removed.statusCode < 300, `removing cam2: HTTP ${removed.statusCode}`);
    assert.ok(await seen('Bye'), 'no Bye for cam2');
  });

  test('a camera whose clock is off: clients that sign with GetSystemDateAndTime are still let in', async () => {
    // The camera's wall clock moved 2 h ahead through the REST API (setCurrentTime), zone unchanged.
    const url = `${env.origin}/api/v1/cameras/${CAMERA_ID}/system/time`;
    const headers = { authorization: `Basic ${Buffer.from(`${ADMIN.name}:${ADMIN.password}`).toString('base64')}`, 'content-type': 'application/json' };
    const shift = async (hours: number) => {
      const got = await request(url, { headers });
      const { time } = (await got.body.json()) as { time: string };
      const moved = new Date(Date.parse(`${time}Z`) + hours * 3_600_000).toISOString().slice(0, 19);
      const put = await request(url, { method: 'PUT', headers, body: JSON.stringify({ time: moved }) });
      const text = await put.body.text();
      assert.ok(put.statusCode < 300, `PUT system/time: HTTP ${put.statusCode} ${text}`);
    };
    await shift(2);
    try {
      assert.match(await onvifNpmLogin(env), /WV-V2530LK/);
    } finally {
      await shift(-2);
    }
  });

  test('the XSD check is not vacuous: it refuses element order and namespace slips in a real answer', async () => {
    const real = env.answers.find((a) => answerName(a.body) === 'GetSystemDateAndTimeResponse' && a.status === 200);
    assert.ok(real, 'no GetSystemDateAndTime answer recorded');
    assert.equal((await validateSoap(real.body)).ok, true);
    const hour = /<tt:Hour>\d+<\/tt:Hour>/.exec(real.body)![0];
    const minute = /<tt:Minute>\d+<\/tt:Minute>/.exec(real.body)![0];
    const swapped = real.body.replace(`${hour}${minute}`, `${minute}${hour}`);
    assert.notEqual(swapped, real.body);
    assert.equal((await validateSoap(swapped)).ok, false, 'Minute before Hour must be refused');
    const slipped = real.body.replace(/<tt:DateTimeType>([^<]*)<\/tt:DateTimeType>/, '<tds:DateTimeType>$1</tds:DateTimeType>');
    assert.notEqual(slipped, real.body);
    assert.equal((await validateSoap(slipped)).ok, false, 'tds:DateTimeType must be refused');
  });

  test('the gateway multicasts Bye for its camera when it stops', async () => {
    await env.stop();
    const epr = endpointReference(CAMERA_ID);
    assert.ok(
      env.multicast.some((m) => m.includes('/discovery/Bye') && m.includes(epr)),
      `no Bye among ${env.multicast.length} multicast messages`,
    );
  });
});
